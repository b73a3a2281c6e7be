package gnmi

import (
	"context"
	"encoding/json"
	"github.com/amp-edge/amp/internal/testenv"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

type env struct {
	t      testing.TB
	eng    *config.Engine
	srv    *Server
	addr   string
	token  string
	c      gpb.GNMIClient
	reg    *prometheus.Registry
	tokens *auth.Tokens
}

// bearer is per-RPC credentials sending an API token.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

func engine(t testing.TB) (*config.Engine, *auth.Tokens) {
	t.Helper()
	eng, st := testenv.Engine(t, true)
	return eng, auth.NewTokens(st)
}

func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	eng, tokens := engine(t)
	tok, _, err := tokens.Create("t", "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts := Options{Auth: &auth.GRPCAuth{Tokens: tokens}, Authorizer: auth.AllowAuthenticated{}, Registerer: reg, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&opts)
	}
	srv, err := New(eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(time.Second) })
	e := &env{t: t, eng: eng, srv: srv, addr: lis.Addr().String(), token: tok, reg: reg, tokens: tokens}
	e.c = e.client(grpc.WithPerRPCCredentials(bearer(tok)))
	return e
}

func (e *env) client(opts ...grpc.DialOption) gpb.GNMIClient {
	e.t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(e.addr, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return gpb.NewGNMIClient(conn)
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// p builds a path from "a/b[k=v]/c" (no escapes; test paths only).
func p(s string) *gpb.Path {
	out := &gpb.Path{}
	for _, part := range strings.Split(strings.Trim(s, "/"), "/") {
		if part == "" {
			continue
		}
		e := &gpb.PathElem{Name: part}
		if i := strings.IndexByte(part, '['); i >= 0 {
			e.Name = part[:i]
			e.Key = map[string]string{}
			for _, kv := range strings.Split(strings.Trim(part[i:], "[]"), "][") {
				k, v, _ := strings.Cut(kv, "=")
				e.Key[k] = v
			}
		}
		out.Elem = append(out.Elem, e)
	}
	return out
}

func target(t string) *gpb.Path { return &gpb.Path{Target: t} }

func wantCode(t *testing.T, err error, code codes.Code, substr ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	for _, s := range substr {
		if !strings.Contains(status.Convert(err).Message(), s) {
			t.Fatalf("message %q does not contain %q", status.Convert(err).Message(), s)
		}
	}
}

func jsonOf(t testing.TB, tv *gpb.TypedValue) any {
	t.Helper()
	b := tv.GetJsonIetfVal()
	if b == nil {
		b = tv.GetJsonVal()
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("value %q: %v", b, err)
	}
	return v
}

func (e *env) get(prefix *gpb.Path, enc gpb.Encoding, typ gpb.GetRequest_DataType, paths ...*gpb.Path) (*gpb.GetResponse, error) {
	return e.c.Get(ctx(e.t), &gpb.GetRequest{Prefix: prefix, Path: paths, Encoding: enc, Type: typ})
}

func (e *env) getOne(tgt, path string, enc gpb.Encoding) any {
	e.t.Helper()
	resp, err := e.get(target(tgt), enc, gpb.GetRequest_ALL, p(path))
	if err != nil {
		e.t.Fatalf("Get %s %s: %v", tgt, path, err)
	}
	if len(resp.Notification) != 1 || len(resp.Notification[0].Update) != 1 {
		e.t.Fatalf("Get %s: %v", path, resp)
	}
	return jsonOf(e.t, resp.Notification[0].Update[0].Val)
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := e.c.Capabilities(ctx(t), &gpb.CapabilityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GNMIVersion != "0.10.0" {
		t.Errorf("version %q", resp.GNMIVersion)
	}
	mods := map[string]*gpb.ModelData{}
	for _, m := range resp.SupportedModels {
		mods[m.Name] = m
	}
	site := mods["onf-site"]
	if site == nil || site.Version == "" || site.Organization == "" {
		t.Fatalf("onf-site: %v (all: %v)", site, resp.SupportedModels)
	}
	if len(resp.SupportedEncodings) != 2 {
		t.Errorf("encodings %v", resp.SupportedEncodings)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.client().Capabilities(ctx(t), &gpb.CapabilityRequest{})
	wantCode(t, err, codes.Unauthenticated, "authorization: Bearer")
	_, err = e.client(grpc.WithPerRPCCredentials(bearer("amp_000000000000_nope"))).Capabilities(ctx(t), &gpb.CapabilityRequest{})
	wantCode(t, err, codes.Unauthenticated, "not valid")
	st, err := e.client().Subscribe(ctx(t))
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.Unauthenticated)
}

func TestGet(t *testing.T) {
	e := newEnv(t, nil)
	// A leaf, plain JSON.
	if v := e.getOne("acme", "site[site-id=acme-chicago]/display-name", gpb.Encoding_JSON); v != "Chicago plant" {
		t.Errorf("leaf: %v", v)
	}
	// A container.
	mbr := e.getOne("acme", "site[site-id=acme-chicago]/slice[slice-id=video]/mbr", gpb.Encoding_JSON).(map[string]any)
	if mbr["uplink"] != float64(50000000) {
		t.Errorf("container: %v", mbr)
	}
	// An entry with its child lists.
	site := e.getOne("acme", "site[site-id=acme-dallas]", gpb.Encoding_JSON).(map[string]any)
	if site["site-id"] != "acme-dallas" || len(site["device"].([]any)) != 8 {
		t.Errorf("entry: %v", site)
	}
	// A whole list (without keys, and with every key a wildcard).
	for _, path := range []string{"site", "site[site-id=*]"} {
		sites := e.getOne("starbucks", path, gpb.Encoding_JSON).([]any)
		if len(sites) != 2 {
			t.Errorf("%s: %d sites", path, len(sites))
		}
	}
	// The root, RFC 7951: qualified member names, 64-bit numbers as strings.
	root := e.getOne("acme", "", gpb.Encoding_JSON_IETF).(map[string]any)
	if _, ok := root["onf-site:site"]; !ok {
		t.Errorf("root keys: %v", keys(root))
	}
	resp, err := e.get(&gpb.Path{Target: "acme", Origin: "aether"}, gpb.Encoding_JSON_IETF, gpb.GetRequest_ALL, p("site[site-id=acme-chicago]/slice[slice-id=video]/mbr/uplink"))
	if err != nil {
		t.Fatal(err)
	}
	n := resp.Notification[0]
	if n.Prefix.Target != "acme" || n.Prefix.Origin != "aether" || n.Timestamp == 0 {
		t.Errorf("prefix %v ts %d", n.Prefix, n.Timestamp)
	}
	if got := pathString(n.Update[0].Path.Elem); got != "/site[site-id=acme-chicago]/slice[slice-id=video]/mbr/uplink" {
		t.Errorf("path %s", got)
	}
	if v := jsonOf(t, n.Update[0].Val); v != "50000000" {
		t.Errorf("uint64 in RFC 7951: %#v", v)
	}
	// Several paths: one notification each.
	resp, err = e.get(target("acme"), gpb.Encoding_JSON, gpb.GetRequest_ALL, p("traffic-class"), p("template[template-id=template-iot]/sd"))
	if err != nil || len(resp.Notification) != 2 {
		t.Fatalf("two paths: %v %v", resp, err)
	}
	// Every enterprise.
	resp, err = e.get(target("*"), gpb.Encoding_JSON, gpb.GetRequest_ALL, p("site"))
	if err != nil || len(resp.Notification) != 2 || resp.Notification[0].Prefix.Target != "acme" || resp.Notification[1].Prefix.Target != "starbucks" {
		t.Fatalf("target *: %v %v", resp, err)
	}
	// use_models naming a loaded module.
	_, err = e.c.Get(ctx(t), &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site")}, UseModels: []*gpb.ModelData{{Name: "onf-site"}}})
	if err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestGetTypes(t *testing.T) {
	e := newEnv(t, nil)
	set := e.eng.Schema().Set("aether", "")
	loc, err := schema.Resolve(set, "acme", []string{"site", "acme-chicago", "device", "camera-1", "state"})
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, map[string]any{"ip-address": "10.250.0.7"}, loc.REST(), true, schema.DecodeOptions{AllowState: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.eng.SetState(context.Background(), loc, config.OpMerge, val); err != nil {
		t.Fatal(err)
	}
	dev := "site[site-id=acme-chicago]/device[device-id=camera-1]"
	get := func(typ gpb.GetRequest_DataType, path string) (map[string]any, error) {
		resp, err := e.get(target("acme"), gpb.Encoding_JSON, typ, p(path))
		if err != nil {
			return nil, err
		}
		v, _ := jsonOf(t, resp.Notification[0].Update[0].Val).(map[string]any)
		return v, nil
	}
	all, err := get(gpb.GetRequest_ALL, dev)
	if err != nil || all["state"] == nil || all["imei"] == nil {
		t.Fatalf("ALL: %v %v", all, err)
	}
	cfg, err := get(gpb.GetRequest_CONFIG, dev)
	if err != nil || cfg["state"] != nil || cfg["imei"] == nil {
		t.Fatalf("CONFIG: %v %v", cfg, err)
	}
	for _, typ := range []gpb.GetRequest_DataType{gpb.GetRequest_STATE, gpb.GetRequest_OPERATIONAL} {
		st, err := get(typ, dev)
		if err != nil || st["state"] == nil || st["imei"] != nil || st["device-id"] != "camera-1" {
			t.Fatalf("%v: %v %v", typ, st, err)
		}
	}
	_, err = get(gpb.GetRequest_CONFIG, dev+"/state")
	wantCode(t, err, codes.NotFound, "operational state")
	_, err = get(gpb.GetRequest_STATE, dev+"/imei")
	wantCode(t, err, codes.NotFound, "configuration")
}

func TestGetErrors(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		name   string
		req    *gpb.GetRequest
		code   codes.Code
		substr []string
	}{
		{"missing entry", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site[site-id=nowhere]/display-name")}}, codes.NotFound, []string{"/site[site-id=nowhere]/display-name", "does not exist"}},
		{"unknown node", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site[site-id=acme-chicago]/colour")}}, codes.NotFound, []string{`no "colour"`}},
		{"unknown target", &gpb.GetRequest{Prefix: target("globex"), Path: []*gpb.Path{p("site")}}, codes.NotFound, []string{`"globex"`}},
		{"no target", &gpb.GetRequest{Path: []*gpb.Path{p("site")}}, codes.InvalidArgument, []string{"target"}},
		{"unknown origin", &gpb.GetRequest{Prefix: &gpb.Path{Target: "acme", Origin: "openconfig"}, Path: []*gpb.Path{p("site")}}, codes.NotFound, []string{`"openconfig"`}},
		{"encoding", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site")}, Encoding: gpb.Encoding_PROTO}, codes.Unimplemented, []string{"PROTO", "JSON_IETF"}},
		{"element", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{{Element: []string{"site"}}}}, codes.InvalidArgument, []string{"elem"}},
		{"keys missing mid-path", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site/device")}}, codes.InvalidArgument, []string{"needs its keys"}},
		{"bad key name", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site[id=acme-chicago]")}}, codes.InvalidArgument, []string{`"id" is not a key`}},
		{"key wildcard inside", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site[site-id=*]/device")}}, codes.Unimplemented, []string{"wildcard"}},
		{"name wildcard", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site[site-id=acme-chicago]/*")}}, codes.Unimplemented, []string{"wildcard"}},
		{"use_models", &gpb.GetRequest{Prefix: target("acme"), Path: []*gpb.Path{p("site")}, UseModels: []*gpb.ModelData{{Name: "openconfig-interfaces"}}}, codes.InvalidArgument, []string{"openconfig-interfaces"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.c.Get(ctx(t), c.req)
			wantCode(t, err, c.code, c.substr...)
		})
	}
}

func jsonVal(s string) *gpb.TypedValue {
	return &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: []byte(s)}}
}

func extInfo(t *testing.T, resp *gpb.SetResponse) TransactionInfo {
	t.Helper()
	if len(resp.Extension) != 1 || resp.Extension[0].GetRegisteredExt().GetId() != TransactionExtensionID {
		t.Fatalf("extensions %v", resp.Extension)
	}
	var ti TransactionInfo
	if err := json.Unmarshal(resp.Extension[0].GetRegisteredExt().GetMsg(), &ti); err != nil {
		t.Fatal(err)
	}
	return ti
}

func TestSetOneTransaction(t *testing.T) {
	e := newEnv(t, nil)
	before := e.eng.Snapshot().Index
	req := &gpb.SetRequest{
		Prefix: &gpb.Path{Target: "acme"},
		Delete: []*gpb.Path{p("site[site-id=acme-chicago]/monitoring/edge-device[edge-device-id=pi-1]")},
		Replace: []*gpb.Update{{
			Path: &gpb.Path{Target: "starbucks", Elem: p("site[site-id=starbucks-seattle]/slice[slice-id=video]/mbr").Elem},
			Val:  jsonVal(`{"uplink":"40000000","downlink":"9000000"}`),
		}},
		Update: []*gpb.Update{
			{Path: p("site[site-id=acme-chicago]/display-name"), Val: jsonVal(`"Chicago HQ"`)},
			{Path: p("site[site-id=acme-dallas]/description"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "scalar"}}},
			{Path: p("traffic-class[traffic-class-id=class-1]/qci"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: 4}}},
			{Path: p("site[site-id=acme-chicago]/small-cell[small-cell-id=cell-2]/enable"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_BoolVal{BoolVal: true}}},
		},
	}
	resp, err := e.c.Set(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.eng.Snapshot().Index; got != before+1 {
		t.Fatalf("index %d -> %d: not one transaction", before, got)
	}
	ti := extInfo(t, resp)
	if ti.Index != before+1 || !strings.HasPrefix(ti.ID, "uuid:") {
		t.Errorf("transaction %+v", ti)
	}
	wantOps := []gpb.UpdateResult_Operation{gpb.UpdateResult_DELETE, gpb.UpdateResult_REPLACE, gpb.UpdateResult_UPDATE, gpb.UpdateResult_UPDATE, gpb.UpdateResult_UPDATE, gpb.UpdateResult_UPDATE}
	if len(resp.Response) != len(wantOps) || resp.Timestamp == 0 {
		t.Fatalf("response %v", resp)
	}
	for i, r := range resp.Response {
		if r.Op != wantOps[i] {
			t.Errorf("result %d: %v, want %v", i, r.Op, wantOps[i])
		}
	}
	rec, err := e.eng.Transaction(ti.Index)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Principal != "alice" || rec.Source != "gnmi" {
		t.Errorf("record principal %q source %q", rec.Principal, rec.Source)
	}
	if v := e.getOne("acme", "site[site-id=acme-chicago]/display-name", gpb.Encoding_JSON); v != "Chicago HQ" {
		t.Errorf("update: %v", v)
	}
	if v := e.getOne("acme", "site[site-id=acme-dallas]/description", gpb.Encoding_JSON); v != "scalar" {
		t.Errorf("string_val: %v", v)
	}
	if v := e.getOne("acme", "traffic-class[traffic-class-id=class-1]/qci", gpb.Encoding_JSON); v != float64(4) {
		t.Errorf("uint_val: %v", v)
	}
	if v := e.getOne("starbucks", "site[site-id=starbucks-seattle]/slice[slice-id=video]/mbr/uplink", gpb.Encoding_JSON); v != float64(40000000) {
		t.Errorf("replace: %v", v)
	}
	_, err = e.get(target("acme"), gpb.Encoding_JSON, gpb.GetRequest_ALL, p("site[site-id=acme-chicago]/monitoring/edge-device[edge-device-id=pi-1]"))
	wantCode(t, err, codes.NotFound)
	// Deleting what does not exist is accepted (gNMI).
	if _, err := e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"), Delete: []*gpb.Path{p("site[site-id=acme-chicago]/device[device-id=ghost]")}}); err != nil {
		t.Errorf("delete of a missing entry: %v", err)
	}
	// Create a whole entry, then replace a list.
	_, err = e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{
		Path: p("traffic-class[traffic-class-id=class-9]"), Val: jsonVal(`{"display-name":"new","qci":9,"arp":9,"pdb":300,"pelr":6}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := e.getOne("acme", "traffic-class[traffic-class-id=class-9]/display-name", gpb.Encoding_JSON); v != "new" {
		t.Errorf("new entry: %v", v)
	}
}

func TestSetErrors(t *testing.T) {
	e := newEnv(t, nil)
	before := e.eng.Snapshot().Index
	_, err := e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{
		{Path: p("site[site-id=acme-chicago]/display-name"), Val: jsonVal(`"fine"`)},
		{Path: p("traffic-class[traffic-class-id=class-1]/qci"), Val: jsonVal(`"many"`)},
		{Path: p("traffic-class[traffic-class-id=class-1]/arp"), Val: jsonVal(`99`)},
	}})
	wantCode(t, err, codes.InvalidArgument, "/qci", "/arp")
	if e.eng.Snapshot().Index != before {
		t.Fatal("a refused Set committed something")
	}
	for _, c := range []struct {
		name   string
		req    *gpb.SetRequest
		code   codes.Code
		substr []string
	}{
		{"bad JSON", &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/display-name"), Val: jsonVal(`{`)}}}, codes.InvalidArgument, []string{"not valid JSON", "display-name"}},
		{"union_replace", &gpb.SetRequest{Prefix: target("acme"), UnionReplace: []*gpb.Update{{Path: p("site"), Val: jsonVal(`[]`)}}}, codes.Unimplemented, []string{"union_replace"}},
		{"wildcard target", &gpb.SetRequest{Prefix: target("*"), Delete: []*gpb.Path{p("site")}}, codes.InvalidArgument, []string{"one enterprise"}},
		{"wildcard key", &gpb.SetRequest{Prefix: target("acme"), Delete: []*gpb.Path{p("site[site-id=*]/device")}}, codes.InvalidArgument, []string{"wildcard"}},
		{"state", &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/device[device-id=camera-1]/state/ip-address"), Val: jsonVal(`"10.0.0.1"`)}}}, codes.InvalidArgument, []string{"read-only"}},
		{"scalar on container", &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/imsi-definition"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: "x"}}}}}, codes.InvalidArgument, []string{"json_ietf_val"}},
		{"bytes", &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/display-name"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_BytesVal{BytesVal: []byte("x")}}}}}, codes.Unimplemented, []string{"not supported"}},
		{"dangling reference", &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/device-group[device-group-id=cameras]/ip-domain"), Val: jsonVal(`"nowhere"`)}}}, codes.FailedPrecondition, nil},
		{"unknown target", &gpb.SetRequest{Prefix: target("globex"), Update: []*gpb.Update{{Path: p("site[site-id=x]/display-name"), Val: jsonVal(`"x"`)}}}, codes.NotFound, []string{"globex"}},
		{"empty", &gpb.SetRequest{Prefix: target("acme")}, codes.InvalidArgument, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.c.Set(ctx(t), c.req)
			wantCode(t, err, c.code, c.substr...)
		})
	}
	if e.eng.Snapshot().Index != before {
		t.Fatal("a refused Set committed something")
	}
}

func TestMaxMsgSize(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxMsgSize = 4096 })
	big := `"` + strings.Repeat("x", 8000) + `"`
	_, err := e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"), Update: []*gpb.Update{{Path: p("site[site-id=acme-chicago]/description"), Val: jsonVal(big)}}})
	wantCode(t, err, codes.ResourceExhausted)
}

func recv(t *testing.T, st gpb.GNMI_SubscribeClient) *gpb.SubscribeResponse {
	t.Helper()
	r, err := st.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return r
}

// recvUntilSync returns the notifications before the next sync_response.
func recvUntilSync(t *testing.T, st gpb.GNMI_SubscribeClient) []*gpb.Notification {
	t.Helper()
	var out []*gpb.Notification
	for {
		r := recv(t, st)
		if r.GetSyncResponse() {
			return out
		}
		out = append(out, r.GetUpdate())
	}
}

func subscribe(t *testing.T, e *env, sl *gpb.SubscriptionList) gpb.GNMI_SubscribeClient {
	t.Helper()
	st, err := e.c.Subscribe(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: sl}}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSubscribeOnce(t *testing.T) {
	e := newEnv(t, nil)
	st := subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Mode: gpb.SubscriptionList_ONCE, Encoding: gpb.Encoding_JSON_IETF,
		Subscription: []*gpb.Subscription{{Path: p("site[site-id=acme-chicago]/display-name")}, {Path: p("traffic-class")}}})
	ns := recvUntilSync(t, st)
	if len(ns) != 2 || jsonOf(t, ns[0].Update[0].Val) != "Chicago plant" || len(jsonOf(t, ns[1].Update[0].Val).([]any)) != 3 {
		t.Fatalf("ONCE: %v", ns)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after sync: %v, want EOF", err)
	}
	// Errors come back on the stream.
	st = subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Mode: gpb.SubscriptionList_ONCE, Subscription: []*gpb.Subscription{{Path: p("site[site-id=acme-chicago]/nothing")}}})
	_, err := st.Recv()
	wantCode(t, err, codes.NotFound, "nothing")
}

func TestSubscribePoll(t *testing.T) {
	e := newEnv(t, nil)
	st := subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Mode: gpb.SubscriptionList_POLL,
		Subscription: []*gpb.Subscription{{Path: p("site[site-id=acme-chicago]/display-name")}}})
	if ns := recvUntilSync(t, st); len(ns) != 1 || jsonOf(t, ns[0].Update[0].Val) != "Chicago plant" {
		t.Fatalf("first: %v", ns)
	}
	e.setDisplayName(t, "Polled")
	if err := st.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Poll{Poll: &gpb.Poll{}}}); err != nil {
		t.Fatal(err)
	}
	if ns := recvUntilSync(t, st); len(ns) != 1 || jsonOf(t, ns[0].Update[0].Val) != "Polled" {
		t.Fatalf("after poll: %v", ns)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: %v", err)
	}
}

// setDisplayName changes acme-chicago's display name through the engine.
func (e *env) setDisplayName(t *testing.T, name string) uint64 {
	t.Helper()
	set := e.eng.Schema().Set("aether", "")
	loc, err := schema.Resolve(set, "acme", []string{"site", "acme-chicago", "display-name"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpMerge, Loc: loc, Value: name}}, Principal: "test", Source: "api"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Index
}

func TestSubscribeOnChange(t *testing.T) {
	e := newEnv(t, nil)
	st := subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Mode: gpb.SubscriptionList_STREAM, Encoding: gpb.Encoding_JSON,
		Subscription: []*gpb.Subscription{
			{Path: p("site[site-id=acme-chicago]"), Mode: gpb.SubscriptionMode_ON_CHANGE},
			{Path: p("traffic-class[traffic-class-id=class-1]/qci")}, // TARGET_DEFINED
		}})
	ns := recvUntilSync(t, st)
	if len(ns) != 2 {
		t.Fatalf("initial: %d notifications", len(ns))
	}
	// A change made through the engine (as REST would).
	e.setDisplayName(t, "Changed")
	n := recv(t, st).GetUpdate()
	if n == nil || n.Prefix.Target != "acme" || len(n.Update) != 1 {
		t.Fatalf("change: %v", n)
	}
	if got := pathString(n.Update[0].Path.Elem); got != "/site[site-id=acme-chicago]" {
		t.Errorf("path %s", got)
	}
	obj := jsonOf(t, n.Update[0].Val).(map[string]any)
	if obj["display-name"] != "Changed" || obj["device"] != nil {
		t.Errorf("object JSON (without child lists): %v", obj)
	}
	// A delete through gNMI Set, and a leaf inside an object.
	_, err := e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("acme"),
		Delete: []*gpb.Path{p("site[site-id=acme-chicago]/slice[slice-id=iot]")},
		Update: []*gpb.Update{{Path: p("traffic-class[traffic-class-id=class-1]/qci"), Val: jsonVal("5")}}})
	if err != nil {
		t.Fatal(err)
	}
	n = recv(t, st).GetUpdate()
	var deletes []string
	for _, d := range n.Delete {
		deletes = append(deletes, pathString(d.Elem))
	}
	if strings.Join(deletes, ",") != "/site[site-id=acme-chicago]/slice[slice-id=iot]" {
		t.Errorf("deletes %v (child objects must be covered by their parent's delete)", deletes)
	}
	if len(n.Update) != 1 || pathString(n.Update[0].Path.Elem) != "/traffic-class[traffic-class-id=class-1]/qci" || jsonOf(t, n.Update[0].Val) != float64(5) {
		t.Errorf("leaf update %v", n.Update)
	}
	// Changes elsewhere are not sent: the next message is the next change.
	e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("starbucks"), Update: []*gpb.Update{{Path: p("site[site-id=starbucks-seattle]/display-name"), Val: jsonVal(`"x"`)}}})
	e.setDisplayName(t, "Again")
	n = recv(t, st).GetUpdate()
	if pathString(n.Update[0].Path.Elem) != "/site[site-id=acme-chicago]" {
		t.Errorf("unrelated change sent: %v", n)
	}
}

func TestSubscribeUpdatesOnlyAllTargets(t *testing.T) {
	e := newEnv(t, nil)
	st := subscribe(t, e, &gpb.SubscriptionList{Prefix: target("*"), Mode: gpb.SubscriptionList_STREAM, UpdatesOnly: true,
		Subscription: []*gpb.Subscription{{Path: p("site")}}})
	if ns := recvUntilSync(t, st); len(ns) != 0 {
		t.Fatalf("updates_only sent %d initial notifications", len(ns))
	}
	_, err := e.c.Set(ctx(t), &gpb.SetRequest{Prefix: target("starbucks"), Update: []*gpb.Update{{Path: p("site[site-id=starbucks-seattle]/display-name"), Val: jsonVal(`"Seattle"`)}}})
	if err != nil {
		t.Fatal(err)
	}
	n := recv(t, st).GetUpdate()
	if n.Prefix.Target != "starbucks" || pathString(n.Update[0].Path.Elem) != "/site[site-id=starbucks-seattle]" {
		t.Fatalf("change: %v", n)
	}
}

func TestSubscribeSample(t *testing.T) {
	e := newEnv(t, nil)
	st := subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Mode: gpb.SubscriptionList_STREAM,
		Subscription: []*gpb.Subscription{{Path: p("site[site-id=acme-chicago]/display-name"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(100 * time.Millisecond)}}})
	if ns := recvUntilSync(t, st); len(ns) != 1 {
		t.Fatalf("initial %v", ns)
	}
	start := time.Now()
	recv(t, st)
	e.setDisplayName(t, "Sampled")
	var last any
	for i := 0; i < 3; i++ {
		last = jsonOf(t, recv(t, st).GetUpdate().Update[0].Val)
	}
	if last != "Sampled" {
		t.Errorf("sample after change: %v", last)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("4 samples in %s: interval not honoured", d)
	}
	st = subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Mode: gpb.SubscriptionList_STREAM,
		Subscription: []*gpb.Subscription{{Path: p("site"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(time.Millisecond)}}})
	_, err := st.Recv()
	wantCode(t, err, codes.InvalidArgument, "minimum")
}

func TestSlowSubscriber(t *testing.T) {
	sn := &subscription{queue: make(chan *gpb.SubscribeResponse, 2), sendErr: make(chan error, 1)}
	for i := 0; i < 2; i++ {
		if err := sn.enqueue(syncResponse()); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, sn.enqueue(syncResponse()), codes.ResourceExhausted, "too slow")
	wantCode(t, toStatus(config.ErrLagged), codes.ResourceExhausted, "too slow")
}

func TestServerStopEndsSubscriptions(t *testing.T) {
	e := newEnv(t, nil)
	st := subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Subscription: []*gpb.Subscription{{Path: p("site")},
		{Path: p("traffic-class"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(time.Hour)}}})
	recvUntilSync(t, st)
	stopped := make(chan struct{})
	go func() { e.srv.Stop(5 * time.Second); close(stopped) }()
	_, err := st.Recv()
	wantCode(t, err, codes.Unavailable, "shutting down")
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("Stop waited for the open subscription")
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	e.c.Capabilities(ctx(t), &gpb.CapabilityRequest{})
	e.c.Get(ctx(t), &gpb.GetRequest{Prefix: target("nowhere"), Path: []*gpb.Path{p("site")}})
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for key, want := range map[string]float64{
		"amp_gnmi_requests_total,code=OK,rpc=Capabilities": 1,
		"amp_gnmi_requests_total,code=NotFound,rpc=Get":    1,
		"amp_gnmi_request_duration_seconds,rpc=Get":        1,
		"amp_gnmi_subscriptions":                           0,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
	if _, ok := got["amp_gnmi_subscriptions"]; !ok {
		t.Error("amp_gnmi_subscriptions missing")
	}
}

func TestErrorTable(t *testing.T) {
	for k, c := range map[schema.Kind]codes.Code{
		schema.KindInvalid: codes.InvalidArgument, schema.KindNotFound: codes.NotFound, schema.KindConflict: codes.FailedPrecondition,
		schema.KindPrecondition: codes.FailedPrecondition, schema.KindUnauthenticated: codes.Unauthenticated, schema.KindForbidden: codes.PermissionDenied,
		schema.KindGone: codes.OutOfRange, schema.KindTooLarge: codes.ResourceExhausted, schema.KindUnavailable: codes.Unavailable,
	} {
		if got := status.Code(toStatus(schema.Errorf(k, "/p", "x"))); got != c {
			t.Errorf("kind %d: %v, want %v", k, got, c)
		}
	}
	// Every problem is in the message.
	var probs schema.Problems
	for i := 0; i < 30; i++ {
		probs.Add("/a/"+string(rune('a'+i%26)), "reason %d", i)
	}
	msg := status.Convert(toStatus(probs.Err())).Message()
	if !strings.Contains(msg, "reason 0") || !strings.Contains(msg, "reason 29") {
		t.Errorf("message %q", msg)
	}
}

// TestSubscribeOnChangeState: operational state reports reach ON_CHANGE
// subscribers of the object and of its state container (not versioned, so
// they come from the engine's state feed, not its transaction watch).
func TestSubscribeOnChangeState(t *testing.T) {
	e := newEnv(t, nil)
	st := subscribe(t, e, &gpb.SubscriptionList{Prefix: target("acme"), Mode: gpb.SubscriptionList_STREAM, Encoding: gpb.Encoding_JSON_IETF, UpdatesOnly: true,
		Subscription: []*gpb.Subscription{
			{Path: p("site[site-id=acme-chicago]/device[device-id=camera-1]/state"), Mode: gpb.SubscriptionMode_ON_CHANGE},
			{Path: p("site[site-id=acme-chicago]/upf"), Mode: gpb.SubscriptionMode_ON_CHANGE},
		}})
	recvUntilSync(t, st)
	set := e.eng.Schema().Set("aether", "2.1.x")
	report := func(path string, v map[string]any) {
		t.Helper()
		loc, err := schema.Resolve(set, "acme", schema.SplitPath(path))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.eng.SetState(context.Background(), loc, config.OpReplace, v); err != nil {
			t.Fatal(err)
		}
	}
	report("site/acme-chicago/device/camera-1/state", map[string]any{"connected": "Yes", "ip-address": "10.250.0.9"})
	n := recv(t, st).GetUpdate()
	if len(n.GetUpdate()) != 1 || pathString(n.Update[0].Path.Elem) != "/site[site-id=acme-chicago]/device[device-id=camera-1]/state" {
		t.Fatalf("device state update: %v", n)
	}
	// JSON_IETF: RFC 7951 qualifies the value's top-level member names.
	if v := jsonOf(t, n.Update[0].Val).(map[string]any); v["onf-site:connected"] != "Yes" {
		t.Fatalf("value %v", v)
	}
	report("site/acme-chicago/upf/upf-1/state", map[string]any{"status": "down", "message": "no heartbeat"})
	n = recv(t, st).GetUpdate()
	if len(n.GetUpdate()) != 1 || pathString(n.Update[0].Path.Elem) != "/site[site-id=acme-chicago]/upf[upf-id=upf-1]/state" {
		t.Fatalf("UPF health update: %v", n)
	}
	// A state report elsewhere is not sent.
	report("site/acme-chicago/device/camera-2/state", map[string]any{"connected": "No"})
	report("site/acme-chicago/device/camera-1/state", map[string]any{"connected": "Idle"})
	if v := jsonOf(t, recv(t, st).GetUpdate().Update[0].Val).(map[string]any); v["onf-site:connected"] != "Idle" {
		t.Fatalf("camera-2's report leaked, or camera-1's was lost: %v", v)
	}
}
