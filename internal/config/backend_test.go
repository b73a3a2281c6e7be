package config

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
)

// grants is a BackendPolicy: enterprise -> kind -> allowed values.
type grants map[string]map[string]string

func (g grants) Check(ent, kind, value string) error {
	if g[ent][kind] == value {
		return nil
	}
	return fmt.Errorf("%s is not a %s backend granted to %s", value, kind, ent)
}

// A backend endpoint leaf takes only a granted value, at commit, with the
// leaf's path; an unchanged value is not checked again (a later revoke
// does not block other edits); a failed transaction changes nothing.
func TestBackendEndpointsAreHeldToTheGrants(t *testing.T) {
	g := grants{"acme": {"core": "http://core.acme/config", "upf": "http://upf.acme"}}
	e, set := newTestEngineWith(t, Options{Backends: g})
	ctx := context.Background()
	if _, err := e.Submit(ctx, &Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	site := func(core, upf string) *Request {
		return &Request{Edits: []Edit{edit(t, set, OpMerge, "/acme/site/s1", `{"site-id":"s1",
		  "imsi-definition":{"mcc":"315","mnc":"010","enterprise":1,"format":"CCCNNNEEESSSSSS"},
		  "connectivity-service":{"core-5g":{"endpoint":"`+core+`"}},
		  "upf":[{"upf-id":"u1","address":"upf1","port":8805,"config-endpoint":"`+upf+`"}]}`)}}
	}
	_, err := e.Submit(ctx, site("http://core.starbucks/config", "http://169.254.169.254"))
	se, ok := err.(*schema.Error)
	if !ok || len(se.Problems) != 2 {
		t.Fatalf("ungranted endpoints: %v", err)
	}
	got := map[string]string{}
	for _, p := range se.Problems {
		got[p.Path] = p.Reason
	}
	for _, want := range []string{"/aether/v2.1.x/acme/site/s1/connectivity-service/core-5g/endpoint", "/aether/v2.1.x/acme/site/s1/upf/u1/config-endpoint"} {
		if !strings.Contains(got[want], "is not a") {
			t.Fatalf("no refusal at %s: %v", want, se.Problems)
		}
	}
	if e.Snapshot().Index != 1 {
		t.Fatal("a refused transaction committed")
	}
	if _, err := e.Submit(ctx, site("http://core.acme/config", "http://upf.acme")); err != nil {
		t.Fatalf("granted endpoints: %v", err)
	}
	delete(g["acme"], "core") // the operator revokes the core
	if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "/acme/site/s1", `{"display-name":"S1"}`)}}); err != nil {
		t.Fatalf("an edit beside an unchanged, revoked endpoint: %v", err)
	}
}
