package gitsource

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/amp-edge/amp/internal/testenv/gitserver"
)

// BenchmarkFetchAfterPush: the fetch of a push of one small file to a repo
// of 200 files (about 2 MiB, incompressible), over smart HTTP (git
// http-backend on loopback). "memory" fetches the branch into memory each
// time (AMP before the cache, and the baseline); "cache" into the repo's
// cache on disk, which transfers only the new commit's objects. Compare
// the two ns/op and received-B/op of one run:
//
//	go test -run '^$' -bench BenchmarkFetchAfterPush -benchtime 20x ./internal/fleet/gitsource
func BenchmarkFetchAfterPush(b *testing.B) {
	gs := gitserver.Start(b)
	url := gs.Create(b, "apps")
	rnd := rand.New(rand.NewPCG(1, 2))
	for batch := range 10 { // pushes under git's 1 MiB HTTP post buffer (net/http/cgi takes no chunked body)
		files := map[string]string{}
		for i := range 20 {
			buf := make([]byte, 10<<10)
			for j := range buf {
				buf[j] = byte(rnd.IntN(256))
			}
			files[fmt.Sprintf("charts/c%d/blob%d", batch, i)] = string(buf)
		}
		gs.Push(b, "apps", "main", files)
	}
	for _, mode := range []string{"memory", "cache"} {
		b.Run(mode, func(b *testing.B) {
			ctx, received := CountBytes(context.Background())
			src := Source{URL: url, Branch: "main"}
			if mode == "cache" {
				src.Dir = b.TempDir() + "/apps.git"
				if _, _, err := Fetch(ctx, src); err != nil { // the one clone
					b.Fatal(err)
				}
				received.Store(0)
			}
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				rev := gs.Push(b, "apps", "main", map[string]string{"values.yaml": fmt.Sprintf("n: %d\n", i)})
				b.StartTimer()
				got, _, err := Fetch(ctx, src)
				if err != nil || got != rev {
					b.Fatalf("fetch %d: %s, %v; want %s", i, got, err, rev)
				}
			}
			b.ReportMetric(float64(received.Load())/float64(b.N), "received-B/op")
		})
	}
}
