package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/idp"
)

// problem decodes a problem+json body's errors.
func problems(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	var p struct {
		Errors []map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("not a problem document: %s", b)
	}
	return p.Errors
}

func mustProblem(t *testing.T, b []byte, path, reason string) {
	t.Helper()
	for _, e := range problems(t, b) {
		if e["path"] == path && strings.Contains(e["reason"], reason) {
			return
		}
	}
	t.Fatalf("no error at %s saying %q in %s", path, reason, b)
}

// TestEnterpriseIDsThatReadAsRolesAreRefused (issue 8, finding 10): an
// enterprise named "acme-admin" made its members admins of acme, and ones
// named amp-state-writer or amp-suspended granted or removed rights. Such
// ids are refused, naming the path and the rule.
func TestEnterpriseIDsThatReadAsRolesAreRefused(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	for id, rule := range map[string]string{"acme-admin": `ending in "-admin" are reserved`, "amp-state-writer": `starting with "amp-"`, "amp-suspended": `starting with "amp-"`} {
		b := s.Must(t, 400, "POST", "/enterprises", `{"enterprise-id":"`+id+`"}`)
		mustProblem(t, b, "/enterprises/"+id, rule)
		s.Must(t, 404, "GET", "/enterprises/"+id, "")
	}
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"admin-of-nothing"}`)
	if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_config_enterprise_ids_refused_total{rule="reserved"} 3`) {
		t.Fatal("the refusals are not counted")
	}
}

// TestStructuredRights (issue 8, finding 10): API tokens hold a role and
// an enterprise, not a group string built from the enterprise's id;
// identity-provider groups map to the same rights through the documented
// names (amp:<role>[:<enterprise>]), and the book's names can be turned
// off.
func TestStructuredRights(t *testing.T) {
	p, err := idp.Start(t)
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.Start(t, t.TempDir(), "--demo", "--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID, "--gnmi-listen", "127.0.0.1:0")
	acme, sb := "/aether/v2.1.x/acme/site/acme-chicago", "/aether/v2.1.x/starbucks/site/starbucks-seattle"
	as := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	// A token's record and answer carry its right, structured.
	var tok struct {
		Token  string           `json:"token"`
		Rights []map[string]any `json:"rights"`
	}
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"ci","role":"enterprise-member","enterprise":"acme"}`), &tok)
	if len(tok.Rights) != 1 || tok.Rights[0]["role"] != "enterprise-member" || tok.Rights[0]["enterprise"] != "acme" {
		t.Fatalf("token rights %v", tok.Rights)
	}
	s.Must(t, 200, "GET", acme, "", as(tok.Token)...)
	s.Must(t, 403, "PATCH", acme+"/upf/upf-1", `{"port":8801}`, as(tok.Token)...)
	s.Must(t, 404, "GET", sb, "", as(tok.Token)...)
	// The same right over gNMI.
	conn, err := grpc.NewClient(s.GNMIAddr(t), s.GNMIDialOption(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok.Token)
	get := func(target string) error {
		_, err := gpb.NewGNMIClient(conn).Get(gctx, &gpb.GetRequest{Prefix: &gpb.Path{Origin: "aether", Target: target},
			Path: []*gpb.Path{{Elem: []*gpb.PathElem{{Name: "site"}}}}, Encoding: gpb.Encoding_JSON_IETF})
		return err
	}
	if err := get("acme"); err != nil {
		t.Fatalf("gNMI Get acme with the token: %v", err)
	}
	if err := get("starbucks"); status.Code(err) != codes.NotFound {
		t.Fatalf("gNMI Get starbucks with the token: %v (want NotFound)", err)
	}
	b := s.Must(t, 400, "POST", "/tokens", `{"name":"x","role":"suspended"}`)
	mustProblem(t, b, "/role", "is not operator")
	b = s.Must(t, 400, "POST", "/tokens", `{"name":"x","role":"state-writer","enterprise":"acme"}`)
	mustProblem(t, b, "/enterprise", "not scoped to an enterprise")

	// OIDC: mallory (LDAP group starbucks) joins the structured group
	// amp:enterprise-admin:acme and may then write acme.
	if err := p.AddToGroup("mallory", "amp:enterprise-admin:acme"); err != nil {
		t.Fatal(err)
	}
	mallory, alice := p.Token(t, "mallory", "mallory-pw"), p.Token(t, "alice", "alice-pw")
	s.Must(t, 200, "PATCH", acme+"/upf/upf-1", `{"port":8802}`, as(mallory)...)
	s.Must(t, 403, "PATCH", sb+"/upf/upf-1", `{"port":8803}`, as(mallory)...)
	s.Must(t, 200, "PATCH", acme+"/upf/upf-1", `{"port":8804}`, as(alice)...) // the book's acme-admin

	// The CLI shows the rights.
	cmd := exec.Command(testenv.Binary(t), "token", "list")
	cmd.Env = append(s.Env(), "AMP_TOKEN="+s.Token)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "RIGHTS") || !strings.Contains(string(out), "enterprise-member:acme") {
		t.Fatalf("amp token list: %v\n%s", err, out)
	}

	// --oidc-book-groups=false: only structured names grant rights.
	s2 := testenv.Start(t, t.TempDir(), "--demo", "--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID, "--oidc-book-groups=false")
	s2.Must(t, 200, "PATCH", acme+"/upf/upf-1", `{"port":8805}`, as(mallory)...)
	s2.Must(t, 404, "GET", sb, "", as(mallory)...)
	s2.Must(t, 404, "GET", acme, "", as(alice)...)
}

// TestLegacyTokenRecordsMigrate: a token stored by an AMP before rights
// existed holds the book's group names; it keeps exactly its role.
func TestLegacyTokenRecordsMigrate(t *testing.T) {
	dir := t.TempDir()
	s := testenv.Start(t, dir, "--demo")
	var tok struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"ci","role":"enterprise-admin","enterprise":"acme"}`), &tok)
	s.Stop()

	// Rewrite the record as the old code wrote it.
	st, err := store.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	b, err := st.GetMeta("token/" + tok.ID)
	if err != nil || json.Unmarshal(b, &rec) != nil {
		t.Fatalf("token record: %v %s", err, b)
	}
	delete(rec, "rights")
	rec["groups"] = []string{"acme-admin"}
	b, _ = json.Marshal(rec)
	if err := st.PutMeta("token/"+tok.ID, b); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s = testenv.Start(t, dir)
	as := []string{"Authorization", "Bearer " + tok.Token}
	s.Must(t, 200, "PATCH", "/aether/v2.1.x/acme/site/acme-chicago/upf/upf-1", `{"port":8810}`, as...)
	s.Must(t, 404, "GET", "/aether/v2.1.x/starbucks", "", as...)
	var list []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/tokens", ""), &list)
	i := slices.IndexFunc(list, func(m map[string]any) bool { return m["id"] == tok.ID })
	if i < 0 || list[i]["groups"] != nil || len(list[i]["rights"].([]any)) != 1 {
		t.Fatalf("migrated record %v", list)
	}
}

// TestDeletedEnterpriseIDIsRetired (issue 8, finding 11): deleting an
// enterprise revokes its tokens, and its id cannot name a new enterprise
// that would inherit the old one's history, audit records and tokens.
func TestDeletedEnterpriseIDIsRetired(t *testing.T) {
	s := testenv.Start(t, t.TempDir(), "--demo")
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"gone","display-name":"Gone Inc"}`)
	var tok struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	json.Unmarshal(s.Must(t, 201, "POST", "/tokens", `{"name":"gone-ci","role":"enterprise-admin","enterprise":"gone"}`), &tok)
	as := []string{"Authorization", "Bearer " + tok.Token}
	s.Must(t, 200, "GET", "/enterprises/gone", "", as...)
	s.Must(t, 200, "DELETE", "/enterprises/gone?dry-run=true", "")
	s.Must(t, 200, "GET", "/enterprises/gone", "", as...) // a dry run changes nothing

	s.Must(t, 200, "DELETE", "/enterprises/gone", "")
	s.Must(t, 401, "GET", "/enterprises", "", as...)
	if strings.Contains(string(s.Must(t, 200, "GET", "/tokens", "")), tok.ID) {
		t.Fatal("the deleted enterprise's token is still listed")
	}
	var recs []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", "/audit?path=/enterprises/gone", ""), &recs)
	found := false
	for _, r := range recs {
		paths, _ := json.Marshal(r["paths"])
		found = found || r["method"] == "DELETE" && strings.Contains(string(paths), "/tokens/"+tok.ID)
	}
	if !found {
		t.Fatalf("the deletion's audit record does not name the revoked token: %v", recs)
	}

	for _, body := range []string{`{"enterprise-id":"gone"}`, `{"enterprise-id":"gone","display-name":"New Gone"}`} {
		b := s.Must(t, 409, "POST", "/enterprises", body)
		mustProblem(t, b, "/enterprises/gone", "never reused")
	}
	s.Must(t, 404, "GET", "/enterprises/gone", "")
	if m := string(s.Must(t, 200, "GET", "/metrics", "")); !strings.Contains(m, `amp_config_enterprise_ids_refused_total{rule="retired"} 2`) {
		t.Fatal("the refusals are not counted")
	}

	// Still true after a restart.
	s.Stop()
	s = testenv.Start(t, s.DataDir)
	s.Must(t, 409, "POST", "/enterprises", `{"enterprise-id":"gone"}`)
	s.Must(t, 401, "GET", "/enterprises", "", as...)
}
