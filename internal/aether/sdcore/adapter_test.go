package sdcore

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	emu "github.com/amp-edge/amp/internal/aether/emulator/sdcore"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
	"github.com/amp-edge/amp/internal/testenv"
)

// emuEnv is the small enterprise with its core and its UPF pointed at
// the emulator.
func emuEnv(t *testing.T, e *emu.Emulator) *testEnv {
	env := smallEnv(t)
	env.submit(t, nil,
		env.edit(t, config.OpMerge, "acme/site/s1", `{"connectivity-service":{"core-5g":{"endpoint":"`+e.CoreEndpoint()+`"}}}`),
		env.edit(t, config.OpMerge, "acme/site/s1/upf/u1", `{"config-endpoint":"`+e.UPFEndpoint()+`"}`))
	return env
}

// pushAll pushes every object without an error, in id order (as the
// controller does), and returns the ids pushed.
func pushAll(t *testing.T, a *Adapter, out map[string]controller.Desired) []string {
	t.Helper()
	var ids []string
	for id, d := range out {
		if d.Err == "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := a.Push(context.Background(), id, out[id]); err != nil {
			t.Fatalf("push %s: %v", id, err)
		}
	}
	return ids
}

func TestPushDeleteHeld(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "ip-domains"
		if legacy {
			name = "legacy"
		}
		t.Run(name, func(t *testing.T) {
			e := testenv.Emulator(t)
			e.SetLegacyIPDomain(legacy)
			env := emuEnv(t, e)
			a := New(Options{LegacyIPDomain: legacy})
			out := a.Render(env.eng.Snapshot())
			ids := pushAll(t, a, out)
			if len(ids) != 5 { // dg-ok, dg-empty, sl1, sl2, upf u1
				t.Fatalf("pushed %v", ids)
			}
			// The emulator holds all that was rendered (and its own name
			// field).
			core := e.CoreEndpoint()
			for kind, names := range map[string][]string{emu.DeviceGroups: {"dg-ok", "dg-empty"}, emu.NetworkSlices: {"sl1", "sl2"}} {
				objs := e.Objects(kind)
				for _, n := range names {
					k := kindDeviceGroup
					if kind == emu.NetworkSlices {
						k = kindNetworkSlice
					}
					var held, sent any
					_ = json.Unmarshal(objs[n], &held)
					_ = json.Unmarshal(out[id(k, core, "acme", "s1", n)].Body, &sent)
					if where, ok := holds(held, sent, ""); !ok {
						t.Errorf("%s %s: emulator holds %s, rendered %s (differs at %s)", kind, n, objs[n], out[id(k, core, "acme", "s1", n)].Body, where)
					}
				}
			}
			if _, ok := e.Objects(emu.UPFSlices)["sl1"]; !ok {
				t.Error("UPF slice sl1 not held")
			}
			for _, r := range e.Requests() {
				if r.Method == http.MethodPost && r.Status/100 != 2 {
					t.Errorf("%s %s answered %d", r.Method, r.Path, r.Status)
				}
			}
			// Held maps names back to ids, per backend.
			held, err := a.Held(context.Background(), core)
			if err != nil {
				t.Fatal(err)
			}
			upfHeld, err := a.Held(context.Background(), e.UPFEndpoint())
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if !held[id] && !upfHeld[id] {
					t.Errorf("%s not held", id)
				}
			}
			if len(held)+len(upfHeld) != len(ids) {
				t.Errorf("held %v + %v, pushed %v", held, upfHeld, ids)
			}
			// Delete: gone from the backend, and a second delete is fine.
			slID := id(kindNetworkSlice, core, "acme", "s1", "sl2")
			upfID := id(kindUPF, e.UPFEndpoint(), "acme", "s1", "u1")
			for i := 0; i < 2; i++ {
				if err := a.Delete(context.Background(), slID, core); err != nil {
					t.Fatal(err)
				}
				if err := a.Delete(context.Background(), upfID, e.UPFEndpoint()); err != nil {
					t.Fatal(err)
				}
			}
			if _, ok := e.Objects(emu.NetworkSlices)["sl2"]; ok {
				t.Error("sl2 still held after delete")
			}
			if _, ok := e.Objects(emu.UPFSlices)["sl1"]; ok {
				t.Error("UPF sl1 still held after delete")
			}
			if held, _ := a.Held(context.Background(), core); held[slID] {
				t.Error("Held still reports the deleted slice")
			}
		})
	}
}

// TestWrongFormIsDetected: webconsole answers 200 to a device group in
// the other IP-domain form and drops its IP domain; the read-back after
// the push turns that into an error.
func TestWrongFormIsDetected(t *testing.T) {
	for _, legacyCore := range []bool{false, true} {
		e := testenv.Emulator(t)
		e.SetLegacyIPDomain(legacyCore)
		env := emuEnv(t, e)
		a := New(Options{LegacyIPDomainCores: map[string]bool{e.CoreEndpoint(): !legacyCore}})
		dg := id(kindDeviceGroup, e.CoreEndpoint(), "acme", "s1", "dg-ok")
		err := a.Push(context.Background(), dg, a.Render(env.eng.Snapshot())[dg])
		if err == nil || !strings.Contains(err.Error(), "answered 200 but does not hold what was sent (at /ip-domain") {
			t.Errorf("legacy core %v: push of the other form: %v", legacyCore, err)
		}
		for _, r := range e.Requests() {
			if r.Method == http.MethodPost && r.Status != 200 {
				t.Errorf("the webconsole refused it (%d): it should take it and drop the data", r.Status)
			}
		}
	}
}

func TestRestartedEmptyHoldsNothing(t *testing.T) {
	e := testenv.Emulator(t)
	env := emuEnv(t, e)
	a := New(Options{})
	out := a.Render(env.eng.Snapshot())
	pushAll(t, a, out)
	if err := e.Restart(true); err != nil {
		t.Fatal(err)
	}
	held, err := a.Held(context.Background(), e.CoreEndpoint())
	if err != nil || len(held) != 0 {
		t.Errorf("restarted empty core: held %v, %v", held, err)
	}
	// The UPF has no read: Held reports what this process pushed.
	held, err = a.Held(context.Background(), e.UPFEndpoint())
	if err != nil || len(held) != 1 {
		t.Errorf("UPF: held %v, %v", held, err)
	}
	// Stopped: unreachable is an error, not "holds nothing".
	e.Stop()
	if _, err := a.Held(context.Background(), e.CoreEndpoint()); err == nil {
		t.Error("Held of a stopped core succeeded")
	}
	if err := e.Restart(false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Held(context.Background(), e.CoreEndpoint()); err != nil {
		t.Error(err)
	}
}

func TestFailingAndSlowBackend(t *testing.T) {
	e := testenv.Emulator(t)
	env := emuEnv(t, e)
	a := New(Options{Client: &http.Client{Timeout: 200 * time.Millisecond}})
	out := a.Render(env.eng.Snapshot())
	slID := id(kindNetworkSlice, e.CoreEndpoint(), "acme", "s1", "sl1")

	e.SetFailing(http.StatusServiceUnavailable)
	err := a.Push(context.Background(), slID, out[slID])
	if err == nil || !strings.Contains(err.Error(), "503") || !operatorOnly(err, "injected failure") {
		t.Errorf("push to a failing core: %v", err)
	}
	if _, err := a.Held(context.Background(), e.CoreEndpoint()); err == nil {
		t.Error("Held of a failing core succeeded")
	}
	if err := a.Delete(context.Background(), slID, e.CoreEndpoint()); err == nil {
		t.Error("delete on a failing core succeeded")
	}
	e.SetFailing(0)

	e.FailNext(1, http.StatusInternalServerError)
	if err := a.Push(context.Background(), slID, out[slID]); err == nil {
		t.Error("first push after FailNext succeeded")
	}
	if err := a.Push(context.Background(), slID, out[slID]); err != nil {
		t.Errorf("second push: %v", err)
	}

	e.SetDelay(time.Second)
	start := time.Now()
	err = a.Push(context.Background(), slID, out[slID])
	if err == nil || time.Since(start) > 900*time.Millisecond {
		t.Errorf("push to a slow core: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := New(Options{}).Held(ctx, e.CoreEndpoint()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Held past its context: %v", err)
	}
	e.SetDelay(0)
}

func TestHeldStraysAndUPFWithoutList(t *testing.T) {
	e := testenv.Emulator(t)
	env := emuEnv(t, e)
	a := New(Options{DeleteUnknown: true})
	out := a.Render(env.eng.Snapshot())
	pushAll(t, a, out)
	// Someone else's device group on the core.
	req, _ := http.NewRequest(http.MethodPost, e.CoreEndpoint()+"/v1/device-group/foreign",
		strings.NewReader(`{"imsis":[],"ip-domain-expanded":{"dnn":"x","ue-ip-pool":"10.0.0.0/8"}}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	stray := id(kindDeviceGroup, e.CoreEndpoint(), "-", "-", "foreign")
	held, _ := a.Held(context.Background(), e.CoreEndpoint())
	if !held[stray] {
		t.Errorf("stray not reported: %v", held)
	}
	if err := a.Delete(context.Background(), stray, e.CoreEndpoint()); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Objects(emu.DeviceGroups)["foreign"]; ok {
		t.Error("stray not deleted")
	}
	keep := New(Options{}) // by default names AMP did not render are left alone
	keep.Render(env.eng.Snapshot())
	pushAll(t, keep, out)
	_ = keep.Push(context.Background(), id(kindDeviceGroup, e.CoreEndpoint(), "x", "y", "foreign2"),
		controller.Desired{Backend: e.CoreEndpoint(), Body: []byte(`{"imsis":[],"ip-domain-expanded":{"dnn":"x","ue-ip-pool":"10.0.0.0/8"}}`)})
	held, _ = keep.Held(context.Background(), e.CoreEndpoint())
	for h := range held {
		if strings.HasSuffix(h, "/foreign2") {
			t.Errorf("the default adapter reported %s", h)
		}
	}

	// A UPF like omec-project/upf: no list, no delete (405): Held
	// reports what was pushed; a delete replaces the configuration with
	// an empty one.
	upfID := id(kindUPF, e.UPFEndpoint(), "acme", "s1", "u1")
	held, err := a.Held(context.Background(), e.UPFEndpoint())
	if err != nil || !held[upfID] || len(held) != 1 {
		t.Errorf("UPF without a list: held %v, %v", held, err)
	}
	if err := a.Delete(context.Background(), upfID, e.UPFEndpoint()); err != nil {
		t.Errorf("delete on a UPF without DELETE: %v", err)
	}
	if held, _ := a.Held(context.Background(), e.UPFEndpoint()); held[upfID] {
		t.Error("deleted UPF slice still reported")
	}
	if objs := e.Objects(emu.UPFSlices); len(objs) != 1 || string(objs["u1"]) != `{"sliceName":"u1","sliceQos":{}}` {
		t.Errorf("UPF after the delete holds %s", objs)
	}
}

// The demo payloads, both forms, are accepted by the emulated webconsole
// and UPF (the demo's own endpoints are fictitious: send them here).
func TestDemoPayloadsAccepted(t *testing.T) {
	env := demoEnv(t)
	for _, legacy := range []bool{false, true} {
		e := testenv.Emulator(t)
		e.SetLegacyIPDomain(legacy)
		a := New(Options{LegacyIPDomain: legacy})
		out := a.Render(env.eng.Snapshot())
		ids := make([]string, 0, len(out))
		for id := range out {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			d := out[id]
			if strings.HasPrefix(id, kindUPF+"/") {
				d.Backend = e.UPFEndpoint()
			} else {
				d.Backend = e.CoreEndpoint()
			}
			if err := a.Push(context.Background(), id, d); err != nil {
				t.Errorf("legacy form %v: %s: %v", legacy, id, err)
			}
		}
		var stored map[string]any
		_ = json.Unmarshal(e.Objects(emu.NetworkSlices)["video"], &stored)
		if stored == nil {
			t.Error("video slice not stored")
		}
	}
}

// operatorOnly: the backend's answer contains want, and the error's text
// (what a tenant sees) does not: only its log value (the operator's) does.
func operatorOnly(err error, want string) bool {
	var be *endpoint.BackendError
	return errors.As(err, &be) && strings.Contains(be.LogValue().String(), want) && !strings.Contains(err.Error(), want)
}
