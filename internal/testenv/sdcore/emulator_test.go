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
	goodDG    = `{"imsis":["001010000000001"],"ip-domain-name":"ip1","site-info":"s1","ip-domain-expanded":{"dnn":"internet","ue-ip-pool":"10.0.0.0/24","dns-primary":"","mtu":1492,"ue-dnn-qos":{"dnn-mbr-uplink":1,"dnn-mbr-downlink":2,"bitrate-unit":"bps","traffic-class":{"name":"tc","qci":9,"arp":9,"pdb":300,"pelr":6}}}}`
	goodDGNew = `{"imsis":[],"ip-domain-name":"ip1","site-info":"s1","ip-domains":[{"dnn":"internet","ue-ip-pool":"10.0.0.0/24","dns-primary":"","mtu":1492}]}`
	goodSlice = `{"slice-id":{"sst":"1","sd":"010203"},"site-device-group":["dg1"],"site-info":{"site-name":"s1","plmn":{"mcc":"001","mnc":"01"},"gNodeBs":[{"name":"gnb1","tac":1}],"upf":{"upf-name":"upf","upf-port":8805}},` +
		`"application-filtering-rules":[{"rule-name":"a-b","priority":1,"action":"permit","endpoint":"10.1.0.0/16","dest-port-start":80,"dest-port-end":80,"protocol":6,"traffic-class":{"name":"tc","qci":9,"arp":9,"pdb":300,"pelr":6}},` +
		`{"rule-name":"DENY-ALL","priority":250,"action":"deny","endpoint":"0.0.0.0/0","traffic-class":{"name":"","qci":9,"arp":6,"pdb":0,"pelr":0}}]}`
	goodUPF = `{"sliceName":"sl1","sliceQos":{"uplinkMBR":1,"downlinkMBR":2,"uplinkBurstSize":3,"downlinkBurstSize":4,"bitrateUnit":"bps"},"ueResourceInfo":[{"uePoolId":"dg1","dnn":"internet"}]}`
)

func TestWebconsoleContract(t *testing.T) {
	e := start(t)
	core := e.CoreEndpoint()
	ok := func(method, path, body string) {
		t.Helper()
		if s, b := call(t, method, core+path, "application/json", body); s != 200 {
			t.Errorf("%s %s: %d %s", method, path, s, b)
		}
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
	if s, b := call(t, http.MethodGet, core+"/v1/network-slice", "", ""); s != 200 || strings.TrimSpace(b) != `["sl1","sl2"]` {
		t.Errorf("list: %d %s", s, b)
	}
	if s, b := call(t, http.MethodGet, core+"/v1/device-group/", "", ""); s != 200 || strings.TrimSpace(b) != `["dg1"]` {
		t.Errorf("list with slash: %d %s", s, b)
	}
	if s, b := call(t, http.MethodGet, core+"/v1/device-group/dg1", "", ""); s != 200 || b != goodDG {
		t.Errorf("get: %d %s", s, b)
	}
	if s, _ := call(t, http.MethodGet, core+"/v1/device-group/nope", "", ""); s != 404 {
		t.Errorf("get missing: %d", s)
	}
	ok(http.MethodDelete, "/v1/network-slice/sl2", "")
	ok(http.MethodDelete, "/v1/network-slice/sl2", "") // webconsole answers 200 for a missing one too
	if len(e.Objects(NetworkSlices)) != 1 {
		t.Errorf("objects %v", e.Objects(NetworkSlices))
	}

	bad("/v1/device-group/dg.1", "application/json", goodDG, "invalid name")
	bad("/v1/device-group/dg1", "text/plain", goodDG, "content-type")
	bad("/v1/device-group/dg1", "application/json", strings.Replace(goodDG, `"site-info"`, `"site-infos"`, 1), "unknown field")
	bad("/v1/device-group/dg1", "application/json", goodDGNew, `unknown field \"ip-domains\"`)
	bad("/v1/device-group/dg1", "application/json", strings.Replace(goodDG, `"mtu":1492`, `"mtu":"1492"`, 1), "cannot unmarshal string")
	bad("/v1/device-group/dg1", "application/json", strings.Replace(goodDG, `"imsis":["001010000000001"],`, ``, 1), "imsis is required")
	bad("/v1/device-group/dg1", "application/json", strings.Replace(goodDG, `"dnn":"internet",`, ``, 1), "dnn is required")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"sst":"1"`, `"sst":"0A"`, 1), "SST")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"tac":1`, `"tac":0`, 1), "TAC")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"dest-port-start":80,"dest-port-end":80,"protocol":6,"traffic-class":{"name":"tc","qci":9,"arp":9,"pdb":300,"pelr":6}`, `"dest-port-start":80,"dest-port-end":80,"protocol":6`, 1), "TrafficClass")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"priority":1,`, `"priority":1,"app-mbr-uplink":3000000000,`, 1), "int32")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"dest-port-end":80`, `"dest-port-end":1000`, 1), "more than 100 ports")
	bad("/v1/network-slice/sl1", "application/json", strings.Replace(goodSlice, `"site-name":"s1",`, ``, 1), "site-name is required")

	e.SetIPDomainsList(true)
	ok(http.MethodPost, "/v1/device-group/dg2", goodDGNew)
	bad("/v1/device-group/dg1", "application/json", goodDG, `unknown field \"ip-domain-expanded\"`)
}

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
	if s, _ := call(t, http.MethodPost, u, "application/json", `{"sliceName":"x","bogus":1}`); s != 400 {
		t.Errorf("unknown field: %d", s)
	}
	if s, b := call(t, http.MethodGet, u, "", ""); s != 200 || strings.TrimSpace(b) != `["sl1"]` {
		t.Errorf("list: %d %s", s, b)
	}
	if s, _ := call(t, http.MethodDelete, u+"/nope", "", ""); s != 404 {
		t.Errorf("delete missing: %d", s)
	}
	e.SetUPFListing(false)
	if s, _ := call(t, http.MethodGet, u, "", ""); s != 405 {
		t.Errorf("list on a real-like UPF: %d", s)
	}
	if s, _ := call(t, http.MethodDelete, u+"/sl1", "", ""); s != 405 {
		t.Errorf("delete on a real-like UPF: %d", s)
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
