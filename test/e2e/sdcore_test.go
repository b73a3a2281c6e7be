package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/gnmi/proto/gnmi_ext"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/sdcore"
)

// TestSDCoreConvergesThroughTheBinary is issue 3's newcomer path through the
// real binary and the SD-Core emulator: a slice change arrives as the exact
// webconsole JSON at the core and the UPF; ?wait=applied answers once it
// has; the emulator is killed, changes are made, it restarts empty, and AMP
// converges on its own while /sync-status goes from error/pending to in-sync.
func TestSDCoreConvergesThroughTheBinary(t *testing.T) {
	emu, err := sdcore.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	s := testenv.Start(t, t.TempDir(), append(testenv.Backends(t, "acme", emu), "--probe-every", "200ms", "--gnmi-listen", "127.0.0.1:0", "--gnmi-insecure-no-auth",
		"--gnmi-anonymous-groups", "AetherROCAdmin")...)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	body := emulatedSite(emu)
	var res struct {
		Sync    string
		Objects []struct{ ID, Status, Message string }
	}
	b := s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied&wait-timeout=10s", body)
	if err := json.Unmarshal(b, &res); err != nil || res.Sync != "in-sync" || len(res.Objects) != 3 {
		t.Fatalf("wait=applied: %s", b)
	}
	dg := string(emu.Objects(sdcore.DeviceGroups)["dg1"])
	for _, want := range []string{`"imsis":["315010001000001"]`, `"ue-ip-pool":"10.250.0.0/24"`, `"dnn-mbr-uplink":1000000`, `"qci":7`} {
		if !strings.Contains(dg, want) {
			t.Fatalf("device group at the core lacks %s: %s", want, dg)
		}
	}
	slice := string(emu.Objects(sdcore.NetworkSlices)["sl1"])
	for _, want := range []string{`"tac":255`, `"dest-port-start":8554`, `"protocol":17`, `"priority":250`, `"endpoint":"0.0.0.0/0"`} {
		if !strings.Contains(slice, want) {
			t.Fatalf("slice at the core lacks %s: %s", want, slice)
		}
	}
	if upf := string(emu.Objects(sdcore.UPFSlices)["sl1"]); !strings.Contains(upf, `"uplinkMBR":50000000`) {
		t.Fatalf("UPF config: %s", upf)
	}

	// Through gNMI: OpenConfig's gnmi_cli changes the slice's MBR, and the
	// UPF receives the new QoS.
	cliOut, err := exec.Command(testenv.GNMICli(t), "-address", s.GNMIAddr(t), "-insecure", "-set", "-proto",
		`prefix: {origin: "aether" target: "acme"} update: {path: {elem: {name: "site" key: {key: "site-id" value: "s1"}} elem: {name: "slice" key: {key: "slice-id" value: "sl1"}} elem: {name: "mbr"} elem: {name: "uplink"}} val: {uint_val: 60000000}}`).CombinedOutput()
	if err != nil {
		t.Fatalf("gnmi_cli set: %v\n%s", err, cliOut)
	}
	waitFor(t, func() bool {
		return strings.Contains(string(emu.Objects(sdcore.UPFSlices)["sl1"]), `"uplinkMBR":60000000`)
	}, "the gnmi_cli change reaches the UPF")
	// A gNMI Set with extension 111 answers once applied (extension 110
	// carries the sync verdict).
	conn, err := grpc.NewClient(s.GNMIAddr(t), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := gpb.NewGNMIClient(conn).Set(context.Background(), &gpb.SetRequest{
		Prefix: &gpb.Path{Origin: "aether", Target: "acme"},
		Update: []*gpb.Update{{Path: &gpb.Path{Elem: []*gpb.PathElem{{Name: "site", Key: map[string]string{"site-id": "s1"}},
			{Name: "device-group", Key: map[string]string{"device-group-id": "dg1"}}, {Name: "mbr"}, {Name: "downlink"}}},
			Val: &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: 4000000}}}},
		Extension: []*gnmi_ext.Extension{{Ext: &gnmi_ext.Extension_RegisteredExt{RegisteredExt: &gnmi_ext.RegisteredExtension{Id: 111, Msg: []byte("applied")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg := string(resp.GetExtension()[0].GetRegisteredExt().GetMsg()); !strings.Contains(msg, `"sync":"in-sync"`) ||
		!strings.Contains(string(emu.Objects(sdcore.DeviceGroups)["dg1"]), `"dnn-mbr-downlink":4000000`) {
		t.Fatalf("gNMI Set with extension 111: %s; core holds %s", msg, emu.Objects(sdcore.DeviceGroups)["dg1"])
	}

	// The core goes away; a change is committed anyway and shows as not
	// applied, with the reason.
	emu.Stop()
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr", `{"uplink":3000000}`)
	waitFor(t, func() bool {
		var st struct{ Summary map[string]int }
		json.Unmarshal(s.Must(t, 200, "GET", "/sync-status?path=/aether/v2.1.x/acme/site/s1/device-group/dg1", ""), &st)
		return st.Summary["error"] > 0
	}, "the unreachable core shows as an error")
	// It comes back EMPTY: AMP notices and puts everything back.
	if err := emu.Restart(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		var st struct{ Summary map[string]int }
		json.Unmarshal(s.Must(t, 200, "GET", "/sync-status", ""), &st)
		return st.Summary["in-sync"] == 3 && st.Summary["error"] == 0 && st.Summary["pending"] == 0 &&
			strings.Contains(string(emu.Objects(sdcore.DeviceGroups)["dg1"]), `"dnn-mbr-uplink":3000000`) &&
			len(emu.Objects(sdcore.NetworkSlices)) == 1
	}, "AMP resyncs the restarted core")
	// Deleting the slice deletes it at the core.
	s.Must(t, 200, "DELETE", "/aether/v2.1.x/acme/site/s1/slice/sl1?wait=applied", "")
	if len(emu.Objects(sdcore.NetworkSlices)) != 0 {
		t.Fatalf("slice still at the core: %v", emu.Objects(sdcore.NetworkSlices))
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	waitWithin(t, 20*time.Second, cond, what)
}

// waitWithin is waitFor with its own bound, for the fault tests whose
// recovery involves an etcd election (a liveness bound, not a figure).
func waitWithin(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting: %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestSDCoreConvergesAfterAMPRestart: AMP is killed (SIGKILL) while its
// pushes to a slow core are in flight; restarted, it converges by itself.
func TestSDCoreConvergesAfterAMPRestart(t *testing.T) {
	emu, err := sdcore.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Stop()
	dir := t.TempDir()
	args := append(testenv.Backends(t, "acme", emu), "--probe-every", "200ms")
	s := testenv.Start(t, dir, args...)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 200, "PATCH", "/aether-roc-api?wait=applied", `{"default-target":"acme","Updates":{
	 "traffic-class-2.1.0":[{"traffic-class-id":"tc","qci":7}],
	 "site-2.1.0":[{"site-id":"s1",
	   "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	   "connectivity-service":{"core-5g":{"endpoint":"`+emu.CoreEndpoint()+`"}},
	   "upf":[{"upf-id":"u1","address":"upf1","port":8805}],
	   "ip-domain":[{"ip-domain-id":"pool","dnn":"internet","subnet":"10.250.0.0/24"}],
	   "device-group":[{"device-group-id":"dg1","ip-domain":"pool","traffic-class":"tc","mbr":{"uplink":1,"downlink":1}}],
	   "slice":[{"slice-id":"sl1","sst":"1","sd":"000001","default-behavior":"DENY-ALL","upf":"u1","device-group":[{"device-group":"dg1"}]}]}]}}`)
	// The core becomes slow; a change is committed and its push hangs.
	emu.SetDelay(3 * time.Second)
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/s1/device-group/dg1/mbr", `{"uplink":777}`)
	time.Sleep(300 * time.Millisecond)
	s.Kill()
	emu.SetDelay(0)
	s2, err := testenv.StartErr(testenv.Binary(t), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	waitFor(t, func() bool {
		var st struct{ Summary map[string]int }
		json.Unmarshal(s2.Must(t, 200, "GET", "/sync-status", ""), &st)
		return st.Summary["in-sync"] == 2 && st.Summary["pending"] == 0 && st.Summary["error"] == 0 &&
			strings.Contains(string(emu.Objects(sdcore.DeviceGroups)["dg1"]), `"dnn-mbr-uplink":777`)
	}, "AMP converges after being killed mid-push")
}

// emulatedSite is a PATCH /aether-roc-api body for enterprise acme: site s1
// whose core and UPF are the emulator, with one device group and slice sl1.
func emulatedSite(emu *sdcore.Emulator) string {
	return `{"default-target":"acme","Updates":{
	 "traffic-class-2.1.0":[{"traffic-class-id":"tc","qci":7,"arp":5,"pdb":100,"pelr":3}],
	 "application-2.1.0":[{"application-id":"cam","address":"10.9.0.1/32","endpoint":[{"endpoint-id":"rtsp","port-start":8554,"protocol":"UDP"}]}],
	 "site-2.1.0":[{"site-id":"s1",
	   "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
	   "connectivity-service":{"core-5g":{"endpoint":"` + emu.CoreEndpoint() + `"}},
	   "small-cell":[{"small-cell-id":"c1","address":"gnb1","tac":"00FF"}],
	   "sim-card":[{"sim-id":"sim1","imsi":"315010001000001"},{"sim-id":"sim2","imsi":"315010001000002","enable":false}],
	   "device":[{"device-id":"d1","sim-card":"sim1"}],
	   "upf":[{"upf-id":"u1","address":"upf1","port":8805,"config-endpoint":"` + emu.UPFEndpoint() + `"}],
	   "ip-domain":[{"ip-domain-id":"pool","dnn":"internet","subnet":"10.250.0.0/24"}],
	   "device-group":[{"device-group-id":"dg1","device":[{"device-id":"d1"}],"ip-domain":"pool","traffic-class":"tc","mbr":{"uplink":1000000,"downlink":2000000}}],
	   "slice":[{"slice-id":"sl1","sst":"1","sd":"000001","default-behavior":"DENY-ALL","upf":"u1",
	     "device-group":[{"device-group":"dg1"}],"filter":[{"application":"cam","priority":5}],
	     "mbr":{"uplink":50000000,"downlink":10000000}}]}]}}`
}
