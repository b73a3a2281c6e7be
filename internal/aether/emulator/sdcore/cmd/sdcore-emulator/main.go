// Command sdcore-emulator runs the SD-Core (webconsole and UPF config API)
// emulator that AMP's tests use, so a person can watch what AMP pushes:
//
//	go run ./internal/aether/emulator/sdcore/cmd/sdcore-emulator --listen 127.0.0.1:5000
//
// It prints every request it receives (method, path, status, body) and, on
// SIGHUP, restarts empty, like an SD-Core that lost its state.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/amp-edge/amp/internal/aether/emulator/sdcore"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5000", "address to serve on")
	legacy := flag.Bool("legacy-ip-domain", false, "act as a webconsole before v2.1.1 (device groups with one ip-domain-expanded)")
	token := flag.String("token", "", "require this bearer token on webconsole's routes, as a webconsole with authentication does")
	flag.Parse()
	emu, err := sdcore.StartAt(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdcore-emulator:", err)
		os.Exit(1)
	}
	emu.SetLegacyIPDomain(*legacy)
	emu.SetToken(*token)
	fmt.Printf("SD-Core emulator on %s\n  site core endpoint: %s\n  UPF config-endpoint: %s\n  SIGHUP restarts it empty; Ctrl-C stops it\n",
		emu.URL, emu.CoreEndpoint(), emu.UPFEndpoint())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	seen := 0
	tick := time.NewTicker(200 * time.Millisecond)
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				if err := emu.Restart(true); err != nil {
					fmt.Fprintln(os.Stderr, "restart:", err)
				}
				fmt.Println("-- restarted empty --")
				seen = len(emu.Requests())
				continue
			}
			emu.Stop()
			return
		case <-tick.C:
			reqs := emu.Requests()
			for _, r := range reqs[min(seen, len(reqs)):] {
				fmt.Printf("%s %s %s -> %d %s\n", r.Time.Format("15:04:05.000"), r.Method, r.Path, r.Status, r.Body)
			}
			seen = len(reqs)
		}
	}
}
