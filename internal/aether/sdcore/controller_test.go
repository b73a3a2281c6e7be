package sdcore

import (
	"context"
	"testing"
	"time"

	emu "github.com/amp-edge/amp/internal/aether/emulator/sdcore"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/testenv"
)

// With the real controller: the core receives everything, a deleted slice
// is deleted from it, and a core restarted empty is resynced unasked.
func TestWithController(t *testing.T) {
	e := testenv.Emulator(t)
	env := emuEnv(t, e)
	c := controller.New(env.eng, New(Options{}), controller.Options{ProbeEvery: 50 * time.Millisecond, PushTimeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	held := func(kind, name string) func() bool {
		return func() bool { _, ok := e.Objects(kind)[name]; return ok }
	}
	if err := emu.Wait(wctx, held(emu.NetworkSlices, "sl2")); err != nil {
		t.Fatal("sl2 never reached the core")
	}
	sts, _ := c.WaitApplied(wctx, env.eng.Snapshot().Index)
	var errs int
	for _, st := range sts {
		if st.Status == controller.Error {
			errs++ // dg-noimsi and dg-simoff
		}
	}
	if errs != 2 {
		t.Errorf("%d objects in error, want 2: %+v", errs, sts)
	}

	env.submit(t, nil, env.edit(t, config.OpDelete, "acme/site/s1/slice/sl2", ""))
	if err := emu.Wait(wctx, func() bool { return !held(emu.NetworkSlices, "sl2")() }); err != nil {
		t.Fatal("sl2 not deleted from the core")
	}

	if err := e.Restart(true); err != nil {
		t.Fatal(err)
	}
	if err := emu.Wait(wctx, held(emu.DeviceGroups, "dg-ok")); err != nil {
		t.Fatal("a core restarted empty was not resynced")
	}
	if err := emu.Wait(wctx, held(emu.NetworkSlices, "sl1")); err != nil {
		t.Fatal("sl1 not resynced")
	}
}
