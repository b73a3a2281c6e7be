package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/amp-edge/amp/internal/auth"
)

// The callers as the authenticators build them: the groups the identity
// asserted, mapped to rights (auth.RightsFromGroups).
var (
	olivia  = oidcPrincipal("olivia", "AetherROCAdmin")
	alice   = oidcPrincipal("alice", "acme-admin")
	kim     = oidcPrincipal("kim", "EnterpriseAdmin", "acme")
	mallory = oidcPrincipal("mallory", "starbucks")
	nobody  = oidcPrincipal("nobody")
	bot     = &auth.Principal{Name: "upf-exporter", Rights: []auth.Right{{Role: auth.RoleStateWriter}}, Via: "token"}
)

func oidcPrincipal(name string, groups ...string) *auth.Principal {
	return &auth.Principal{Name: name, Groups: groups, Rights: auth.RightsFromGroups(groups, true), Via: "oidc"}
}

// TestInput: the policy is told the route's kind, set, version, scope and
// tenant; "enterprise" repeats the tenant for policies written before
// scopes, and "tenant" is absent for what belongs to no tenant.
func TestInput(t *testing.T) {
	for p, want := range map[string]map[string]any{
		"/aether/v2.1.x/acme/site/s1": {"kind": "model", "set": "aether", "version": "2.1.x", "scope": "tenant", "tenant": "acme", "enterprise": "acme", "canonical": true},
		"/aether/v2.1.x/a%2Fb/site":   {"kind": "model", "set": "aether", "version": "2.1.x", "scope": "tenant", "tenant": "a/b", "enterprise": "a/b", "canonical": true},
		"/lab/v1.0.0/rack/r1":         {"kind": "model", "set": "lab", "version": "1.0.0", "scope": "global", "enterprise": "", "canonical": true},
		"/state/lab/v1.0.0/rack/r1":   {"kind": "state", "set": "lab", "version": "1.0.0", "scope": "global", "enterprise": "", "canonical": true},
		"/enterprises/acme":           {"kind": "enterprise", "set": "", "version": "", "scope": "", "tenant": "acme", "enterprise": "acme", "canonical": true},
		"/transactions/12/rollback":   {"kind": "transactions", "set": "", "version": "", "scope": "", "enterprise": "", "canonical": true},
		"/enterprises/./acme":         {"kind": "enterprise", "set": "", "version": "", "scope": "", "tenant": ".", "enterprise": ".", "canonical": false},
	} {
		in := Input(alice, auth.Read, res(p))
		want["path"], want["action"] = p, "read"
		delete(in, "principal")
		if !reflect.DeepEqual(in, want) {
			t.Errorf("%s: input %v, want %v", p, in, want)
		}
	}
}

func TestDefaultPolicyRoles(t *testing.T) {
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	type c struct {
		p      *auth.Principal
		action auth.Action
		path   string
		allow  bool
	}
	acme := "/aether/v2.1.x/acme/site/s1/device/d1"
	sb := "/aether/v2.1.x/starbucks/site/s1"
	for _, tc := range []c{
		{olivia, auth.Write, acme, true},
		{olivia, auth.Admin, "/enterprises", true},
		{olivia, auth.Admin, "/admin/log-level", true},
		{olivia, auth.Admin, "/state" + acme, true},
		{alice, auth.Write, acme, true},
		{alice, auth.Read, acme, true},
		{alice, auth.Read, "/enterprises/acme", true},
		{alice, auth.Read, "/transactions", true},
		{alice, auth.Write, sb, false},
		{alice, auth.Read, sb, false},
		{alice, auth.Read, "/enterprises/starbucks", false},
		{alice, auth.Admin, "/enterprises/acme", false},
		{alice, auth.Admin, "/state" + acme, false},
		{alice, auth.Write, "/transactions", false},
		{alice, auth.Admin, "/admin/log-level", false},
		{kim, auth.Write, acme, true},
		{kim, auth.Write, sb, false},
		{mallory, auth.Read, sb, true},
		{mallory, auth.Write, sb, false},
		{mallory, auth.Read, acme, false},
		{nobody, auth.Read, acme, false},
		{nobody, auth.Read, "/enterprises", false},
		{bot, auth.Admin, "/state" + acme, true},
		{bot, auth.Read, acme, false},
		// The operator's allow-list of dedicated UPF bundles (the global
		// fleet set): an enterprise admin asks for a bundle on its slice
		// but cannot change which it may ask for.
		{alice, auth.Write, "/aether/v2.1.x/acme/site/s1/slice/video/dedicated-upf/bundle", true},
		{alice, auth.Write, "/fleet/v1.0.0/bundle/upf/allowed-for-dedicated-upf", false},
		{alice, auth.Write, "/fleet/v1.0.0", false},
		{olivia, auth.Write, "/fleet/v1.0.0/bundle/upf/allowed-for-dedicated-upf", true},
	} {
		err := e.authorizePath(ctx, tc.p, tc.action, tc.path)
		if (err == nil) != tc.allow {
			t.Errorf("%s %s %s: allow=%v, err=%v", tc.p.Name, tc.action, tc.path, tc.allow, err)
		}
		if err != nil && !errors.Is(err, auth.ErrDenied) {
			t.Errorf("%s %s %s: %v does not wrap ErrDenied", tc.p.Name, tc.action, tc.path, err)
		}
	}
	if err := e.authorizePath(ctx, nil, auth.Read, acme); !errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("nil principal: %v", err)
	}
	// Reasons.
	err = e.authorizePath(ctx, &auth.Principal{Name: "olivia", Groups: []string{"AetherROCAdmin", "amp-suspended"}}, auth.Read, acme)
	if err == nil || !strings.Contains(err.Error(), "suspended") {
		t.Errorf("deny reason: %v", err)
	}
	err = e.authorizePath(ctx, alice, auth.Read, sb)
	if err == nil || !strings.Contains(err.Error(), "no policy rule allows alice to read "+sb) {
		t.Errorf("default deny reason: %v", err)
	}
}

// TestGlobalObjectOwner: a global object tied to an enterprise (its
// ampx:tenant leaf, which the interfaces put in Resource.Owner) is read by
// that enterprise's admins and members and written by operators only. The
// same path with different owners is decided apart (the decision cache
// keys on the owner), and the owner reaches the input only when set.
func TestGlobalObjectOwner(t *testing.T) {
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rack := func(owner string) auth.Resource {
		r := res("/lab/v1.0.0/rack/r1")
		r.Owner = owner
		return r
	}
	for _, tc := range []struct {
		p      *auth.Principal
		action auth.Action
		owner  string
		allow  bool
	}{
		{alice, auth.Read, "acme", true},
		{alice, auth.Read, "starbucks", false},
		{alice, auth.Read, "", false},
		{alice, auth.Read, "acme", true}, // from the cache, after other owners
		{alice, auth.Write, "acme", false},
		{kim, auth.Read, "acme", true},
		{kim, auth.Write, "acme", false},
		{mallory, auth.Read, "starbucks", true},
		{mallory, auth.Read, "acme", false},
		{bot, auth.Read, "acme", false},
		{olivia, auth.Write, "acme", true},
		{olivia, auth.Write, "", true},
	} {
		err := e.Authorize(ctx, tc.p, tc.action, rack(tc.owner))
		if (err == nil) != tc.allow {
			t.Errorf("%s %s rack tied to %q: allow=%v, err=%v", tc.p.Name, tc.action, tc.owner, tc.allow, err)
		}
	}
	if in := Input(alice, auth.Read, rack("acme")); in["owner"] != "acme" {
		t.Errorf("input of a tied object: owner %v, want acme", in["owner"])
	}
	if _, ok := Input(alice, auth.Read, rack(""))["owner"]; ok {
		t.Error("input of an object tied to nothing has an owner")
	}
}

// TestEnterpriseListing: /enterprises is filtered item by item with read
// on /enterprises/{id}; each caller sees their own enterprises only.
func TestEnterpriseListing(t *testing.T) {
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"/enterprises/acme", "/enterprises/starbucks", "/enterprises/defaultent"}
	visible := func(p *auth.Principal) []string {
		out := []string{}
		for _, x := range all {
			if e.allowed(p, auth.Read, x) {
				out = append(out, x)
			}
		}
		return out
	}
	if got := visible(olivia); !reflect.DeepEqual(got, all) {
		t.Errorf("operator: %v", got)
	}
	if got := visible(alice); !reflect.DeepEqual(got, []string{"/enterprises/acme"}) {
		t.Errorf("alice: %v", got)
	}
	if got := visible(mallory); !reflect.DeepEqual(got, []string{"/enterprises/starbucks"}) {
		t.Errorf("mallory: %v", got)
	}
	if got := visible(nobody); len(got) != 0 {
		t.Errorf("nobody: %v", got)
	}
}

// TestRegoUnitTests runs policy/*_test.rego: what `amp policy test` does.
func TestRegoUnitTests(t *testing.T) {
	rep, err := RunTests(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	if !rep.OK() || rep.Passed < 8 {
		t.Fatalf("rego tests: %d passed, %d failed\n%s", rep.Passed, rep.Failed, rep)
	}
	// A failing test is reported as such.
	dir := t.TempDir()
	copyDefault(t, dir)
	writeFile(t, filepath.Join(dir, "extra_test.rego"), `package amp.authz_test
import rego.v1
import data.amp.authz
test_wrong if authz.decision.allow with input as {"principal": {"name": "x", "groups": []}, "action": "read", "path": "/x", "kind": "other"}
`)
	rep, err = RunTestsDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Failed != 1 || !strings.Contains(rep.String(), "FAIL: amp.authz_test.test_wrong") {
		t.Fatalf("failing test not reported:\n%s", rep)
	}
	// A policy that does not compile is an error.
	writeFile(t, filepath.Join(dir, "broken.rego"), "package amp.authz\nallow if {")
	if _, err := RunTestsDir(context.Background(), dir); err == nil {
		t.Fatal("broken policy accepted")
	}
}

func copyDefault(t *testing.T, dir string) {
	t.Helper()
	for _, n := range []string{"authz.rego", "authz_test.rego"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "policy", n))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, n), string(b))
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(fstest.MapFS{}); err == nil {
		t.Error("empty dir accepted")
	}
	if _, err := Load(fstest.MapFS{"a.rego": {Data: []byte("package amp.authz\nallow if {")}}); err == nil {
		t.Error("syntax error accepted")
	}
	// Compiles but has no decision.
	if _, err := Load(fstest.MapFS{"a.rego": {Data: []byte("package other\nx := 1\n")}}); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("policy without decision: %v", err)
	}
}

func TestReloadAndWatch(t *testing.T) {
	dir := t.TempDir()
	copyDefault(t, dir)
	e, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Files(); !reflect.DeepEqual(got, []string{"authz.rego"}) {
		t.Fatalf("files %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.Watch(ctx, dir); err != nil {
		t.Fatal(err)
	}
	path := "/aether/v2.1.x/acme/site/s1"
	if e.allowed(mallory, auth.Read, path) {
		t.Fatal("mallory reads acme before the change")
	}
	// Configuration-as-code change: a new file grants starbucks members read on acme.
	writeFile(t, filepath.Join(dir, "partners.rego"), `package amp.authz
import rego.v1
allow if {
	input.kind == "model"
	input.enterprise == "acme"
	input.action == "read"
	"starbucks" in input.principal.groups
}
`)
	waitFor(t, 3*PollInterval, func() bool { return e.allowed(mallory, auth.Read, path) })
	// A broken edit keeps the previous policy in force.
	writeFile(t, filepath.Join(dir, "partners.rego"), "package amp.authz\nallow if {")
	time.Sleep(PollInterval + 500*time.Millisecond)
	if !e.allowed(mallory, auth.Read, path) || !e.allowed(alice, auth.Write, path) {
		t.Fatal("broken policy replaced the working one")
	}
	if err := e.Reload(); err == nil {
		t.Fatal("Reload of a broken policy succeeded")
	}
	if err := os.Remove(filepath.Join(dir, "partners.rego")); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if e.allowed(mallory, auth.Read, path) {
		t.Fatal("grant survived its removal")
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Rights decide, not group strings: a member of an enterprise whose id
// looks like a role gets no role (issue 8, finding 10), and the decision
// cache tells principals apart by their rights.
func TestRightsNotGroupNamesDecide(t *testing.T) {
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	memberOfAcmeAdmin := &auth.Principal{Name: "eve", Groups: []string{"acme-admin"}, Via: "token",
		Rights: []auth.Right{{Role: auth.RoleEnterpriseMember, Enterprise: "acme-admin"}}}
	for _, path := range []string{"/aether/v2.1.x/acme/site/s1", "/state/aether/v2.1.x/acme/upf/u1"} {
		if err := e.authorizePath(ctx, memberOfAcmeAdmin, auth.Write, path); err == nil {
			t.Errorf("a member of enterprise acme-admin may write %s", path)
		}
	}
	if err := e.authorizePath(ctx, memberOfAcmeAdmin, auth.Read, "/aether/v2.1.x/acme-admin/site/s1"); err != nil {
		t.Errorf("a member cannot read its own enterprise: %v", err)
	}
	// Same name and groups, other rights: not the cached decision.
	admin := *memberOfAcmeAdmin
	admin.Rights = []auth.Right{{Role: auth.RoleEnterpriseAdmin, Enterprise: "acme"}}
	if err := e.authorizePath(ctx, &admin, auth.Write, "/aether/v2.1.x/acme/site/s1"); err != nil {
		t.Errorf("an admin of acme: %v", err)
	}
	if err := e.authorizePath(ctx, memberOfAcmeAdmin, auth.Write, "/aether/v2.1.x/acme/site/s1"); err == nil {
		t.Error("the cache served another principal's decision")
	}
	// A state-writer holds no listing role; a suspended operator nothing.
	if err := e.authorizePath(ctx, bot, auth.Read, "/transactions"); err == nil {
		t.Error("a state-writer may read listings")
	}
	suspended := &auth.Principal{Name: "olivia", Rights: []auth.Right{{Role: auth.RoleOperator}, {Role: auth.RoleSuspended}}}
	if err := e.authorizePath(ctx, suspended, auth.Read, "/enterprises"); err == nil || !strings.Contains(err.Error(), "suspended") {
		t.Errorf("suspended operator: %v", err)
	}
}
