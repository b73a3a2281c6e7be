package sdcore

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T) *Emulator {
	t.Helper()
	e, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

func call(t *testing.T, method, url, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const (
	goodDG       = `{"imsis":["001010000000001"],"ip-domain-name":"ip1","site-info":"s1","ip-domains":[{"dnn":"internet","ue-ip-pool":"10.0.0.0/24","mtu":1492,"ue-dnn-qos":{"dnn-mbr-uplink":1,"dnn-mbr-downlink":2,"bitrate-unit":"bps","traffic-class":{"name":"tc","qci":9,"arp":9,"pdb":300,"pelr":6}}}]}`
	goodDGStored = `{"group-name":"dg1","imsis":["001010000000001"],"site-info":"s1","ip-domain-name":"ip1","ip-domains":[{"dnn":"internet","ue-ip-pool":"10.0.0.0/24","mtu":1492,"ue-dnn-qos":{"dnn-mbr-uplink":1,"dnn-mbr-downlink":2,"bitrate-unit":"bps","traffic-class":{"name":"tc","qci":9,"arp":9,"pdb":300,"pelr":6}}}]}`
	legacyDG     = `{"imsis":[],"ip-domain-name":"ip1","site-info":"s1","ip-domain-expanded":{"dnn":"internet","ue-ip-pool":"10.0.0.0/24","mtu":1492}}`
	goodSlice    = `{"slice-id":{"sst":"1","sd":"010203"},"site-device-group":["dg2","dg1","dg1"],"site-info":{"site-name":"s1","plmn":{"mcc":"001","mnc":"01"},"gNodeBs":[{"name":"gnb1","tac":1}],"upf":{"upf-name":"upf","upf-port":8805}},` +
		`"application-filtering-rules":[{"rule-name":"a-b","priority":1,"action":"permit","endpoint":"10.1.0.0/16","dest-port-start":80,"dest-port-end":1000,"protocol":6,"traffic-class":{"name":"tc","qci":9,"arp":9,"pdb":300,"pelr":6}},` +
		`{"rule-name":"DENY-ALL","priority":250,"action":"deny","endpoint":"0.0.0.0/0","traffic-class":{"name":"","qci":9,"arp":6,"pdb":0,"pelr":0}}]}`
	goodUPF = `{"sliceName":"sl1","sliceQos":{"uplinkMBR":1,"downlinkMBR":2,"uplinkBurstSize":3,"downlinkBurstSize":4,"bitrateUnit":"bps"},"ueResourceInfo":[{"uePoolId":"dg1","dnn":"internet"}]}`
)

// TestWebconsoleContract: the emulator answers as configapi does, check by
// check (see the comments in emulator.go and contract.go for the upstream
// function of each), including the 200 that drops data.
func TestWebconsoleContract(t *testing.T) {
	e := start(t)
	core := e.CoreEndpoint()
	ok := func(method, path, body string) {
		t.Helper()
		if s, b := call(t, method, core+path, "application/json", body); s != 200 {
			t.Errorf("%s %s: %d %s", method, path, s, b)
		}
	}
	get := func(path string) string {
		t.Helper()
		s, b := call(t, http.MethodGet, core+path, "", "")
		if s != 200 {
			t.Fatalf("GET %s: %d %s", path, s, b)
		}
		return strings.TrimSpace(b)
	}
	bad := func(path, ctype, body, why string) {
		t.Helper()
		if s, b := call(t, http.MethodPost, core+path, ctype, body); s != 400 || !strings.Contains(b, why) {
			t.Errorf("POST %s %s: %d %s, want 400 with %q", path, body, s, b, why)
		}
	}
	ok(http.MethodPost, "/v1/device-group/dg1", goodDG)
	ok(http.MethodPost, "/v1/network-slice/sl1", goodSlice)
	ok(http.MethodPut, "/v1/network-slice/sl2", goodSlice)
	if b := get("/v1/network-slice"); b != `["sl1","sl2"]` {
		t.Errorf("list: %s", b)
	}
	if b := get("/v1/device-group/dg1"); b != goodDGStored {
		t.Errorf("get: %s", b)
	}
	// parseAndValidateSliceRequest sorts and compacts the device groups; a
	// port range of more than 100 ports is accepted.
	if b := get("/v1/network-slice/sl1"); !strings.Contains(b, `"slice-name":"sl1"`) || !strings.Contains(b, `"site-device-group":["dg1","dg2"]`) || !strings.Contains(b, `"dest-port-end":1000`) {
		t.Errorf("slice as stored: %s", b)
	}
	if s, _ := call(t, http.MethodGet, core+"/v1/device-group/nope", "", ""); s != 404 {
		t.Errorf("get missing: %d", s)
	}
	ok(http.MethodDelete, "/v1/network-slice/sl2", "")
	ok(http.MethodDelete, "/v1/network-slice/sl2", "") // webconsole answers 200 for a missing one too
	if len(e.Objects(NetworkSlices)) != 1 {
		t.Errorf("objects %v", e.Objects(NetworkSlices))
	}
	// A one-character name fails NAME_PATTERN (two characters at least).
	bad("/v1/device-group/d", "application/json", goodDG, "Invalid Device Group name d")
	bad("/v1/network-slice/s", "application/json", goodSlice, "Invalid slice name s")
	bad("/v1/device-group/dg.1", "application/json", goodDG, "Invalid Device Group name")
	bad("/v1/device-group/dg1", "text/plain", goodDG, "unsupported content-type: text/plain")
	bad("/v1/device-group/dg1", "", goodDG, "missing Content-Type header")
	bad("/v1/network-slice/sl1", "", goodSlice, "unsupported content-type: ")
	bad("/v1/device-group/dg1", "application/json", strings.Replace(goodDG, `"mtu":1492`, `"mtu":"1492"`, 1), "cannot unmarshal string")
	bad("/v1/device-group/dg1", "application/json", strings.Replace(goodDG, `"dnn-mbr-uplink":1`, `"dnn-mbr-uplink":9223372036854775808`, 1), "int64")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"name":"gnb1"`, `"name":"gnb1.acme.local"`, 1), "invalid gNB name `gnb1.acme.local`")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"tac":1`, `"tac":0`, 1), "invalid TAC 0")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `,"traffic-class":{"name":"tc","qci":9,"arp":9,"pdb":300,"pelr":6}}`, `}`, 1), "TrafficClass")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"priority":1,`, `"priority":1,"app-mbr-uplink":3000000000,`, 1), "int32")
	// syncSubscribersOnSliceCreateOrUpdate refuses an SST that is not
	// decimal after the slice was stored.
	bad("/v1/network-slice/sl3", "application/json", strings.Replace(goodSlice, `"sst":"1"`, `"sst":"0A"`, 1), "invalid syntax")
	if _, stored := e.Objects(NetworkSlices)["sl3"]; !stored {
		t.Error("a slice refused after the store is not stored")
	}
	// A device group in the legacy form: 200, and nothing of its IP
	// domain is kept (gin ignores the unknown key).
	ok(http.MethodPost, "/v1/device-group/dg3", legacyDG)
	if b := get("/v1/device-group/dg3"); strings.Contains(b, "internet") {
		t.Errorf("a current webconsole kept the legacy form's IP domain: %s", b)
	}
	// A legacy webconsole drops the list form the same way.
	e.SetLegacyIPDomain(true)
	ok(http.MethodPost, "/v1/device-group/dg4", goodDG)
	if b := get("/v1/device-group/dg4"); strings.Contains(b, "internet") {
		t.Errorf("a legacy webconsole kept the list form's IP domain: %s", b)
	}
	ok(http.MethodPost, "/v1/device-group/dg5", legacyDG)
	if b := get("/v1/device-group/dg5"); !strings.Contains(b, `"ip-domain-expanded":{"dnn":"internet"`) {
		t.Errorf("a legacy webconsole lost the legacy form: %s", b)
	}
	// Deleting a device group takes it out of the slices.
	ok(http.MethodDelete, "/v1/device-group/dg2", "")
	if b := get("/v1/network-slice/sl1"); !strings.Contains(b, `"site-device-group":["dg1"]`) {
		t.Errorf("slice after its group's delete: %s", b)
	}
	// Authentication.
	e.SetToken("s3cret")
	if s, _ := call(t, http.MethodGet, core+"/v1/device-group", "", ""); s != 401 {
		t.Errorf("no token: %d", s)
	}
	req, _ := http.NewRequest(http.MethodGet, core+"/v1/device-group", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("with the token: %v %v", resp, err)
	}
}

// TestUPFContract: one slice configuration, replaced by each POST; no
// read, no delete.
func TestUPFContract(t *testing.T) {
	e := start(t)
	u := e.UPFEndpoint() + "/v1/config/network-slices"
	if s, b := call(t, http.MethodPost, u, "application/json", goodUPF); s != 201 {
		t.Fatalf("%d %s", s, b)
	}
	var got upfNetworkSlice
	_ = json.Unmarshal(e.Objects(UPFSlices)["sl1"], &got)
	if got.SliceQos.UplinkMbr != 1 || got.SliceQos.DlBurstBytes != 4 || got.UeResInfo[0].Name != "dg1" {
		t.Errorf("uplinkMBR should fill uplinkMbr (case-insensitive keys): %+v", got)
	}
	if s, _ := call(t, http.MethodPut, u, "application/json", `{"sliceName":"sl2","bogus":1}`); s != 201 {
		t.Errorf("unknown field: %d", s)
	}
	if objs := e.Objects(UPFSlices); len(objs) != 1 || objs["sl2"] == nil {
		t.Errorf("the UPF holds one slice configuration, the last: %v", objs)
	}
	if s, _ := call(t, http.MethodGet, u, "", ""); s != 405 {
		t.Errorf("list: %d", s)
	}
	if s, _ := call(t, http.MethodDelete, u, "", ""); s != 405 {
		t.Errorf("delete: %d", s)
	}
	if s, _ := call(t, http.MethodDelete, u+"/sl2", "", ""); s != 404 {
		t.Errorf("delete by name: %d", s)
	}
}

func TestFaultsAndRestart(t *testing.T) {
	e := start(t)
	core := e.CoreEndpoint()
	if s, _ := call(t, http.MethodPost, core+"/v1/device-group/dg1", "application/json", goodDG); s != 200 {
		t.Fatal(s)
	}
	e.FailNext(2, 502)
	for i, want := range []int{502, 502, 200} {
		if s, _ := call(t, http.MethodGet, core+"/v1/device-group", "", ""); s != want {
			t.Errorf("request %d: %d, want %d", i, s, want)
		}
	}
	e.SetFailing(500)
	if s, _ := call(t, http.MethodGet, core+"/v1/device-group", "", ""); s != 500 {
		t.Errorf("failing: %d", s)
	}
	e.SetFailing(0)
	e.SetDelay(100 * time.Millisecond)
	start := time.Now()
	call(t, http.MethodGet, core+"/v1/device-group", "", "")
	if time.Since(start) < 100*time.Millisecond {
		t.Error("delay not applied")
	}
	e.SetDelay(0)
	url := e.URL
	if err := e.Restart(false); err != nil {
		t.Fatal(err)
	}
	if e.URL != url || len(e.Objects(DeviceGroups)) != 1 {
		t.Errorf("restart kept: url %s objects %v", e.URL, e.Objects(DeviceGroups))
	}
	if err := e.Restart(true); err != nil {
		t.Fatal(err)
	}
	if s, b := call(t, http.MethodGet, core+"/v1/device-group", "", ""); s != 200 || strings.TrimSpace(b) != `[]` {
		t.Errorf("after an empty restart: %d %s", s, b)
	}
	e.Stop()
	if _, err := http.Get(core + "/v1/device-group"); err == nil {
		t.Error("stopped emulator answered")
	}
	reqs := e.Requests()
	if len(reqs) == 0 || reqs[0].Method != http.MethodPost || reqs[0].Path != "/config/v1/device-group/dg1" || string(reqs[0].Body) != goodDG || reqs[0].Status != 200 {
		t.Errorf("request log %+v", reqs[0])
	}
}
