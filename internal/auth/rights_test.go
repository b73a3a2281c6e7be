package auth

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/amp-edge/amp/internal/store"
)

func TestRightsFromGroups(t *testing.T) {
	admin := func(e string) Right { return Right{Role: RoleEnterpriseAdmin, Enterprise: e} }
	member := func(e string) Right { return Right{Role: RoleEnterpriseMember, Enterprise: e} }
	for _, c := range []struct {
		groups     []string
		book       []Right // with the book's names
		structured []Right
	}{
		{groups: []string{"AetherROCAdmin"}, book: []Right{{Role: RoleOperator}}, structured: []Right{}},
		{groups: []string{"acme-admin"}, book: []Right{admin("acme")}, structured: []Right{}},
		{groups: []string{"starbucks"}, book: []Right{member("starbucks")}, structured: []Right{}},
		{groups: []string{"EnterpriseAdmin", "acme"}, book: []Right{member("acme"), admin("acme")}, structured: []Right{}},
		{groups: []string{"amp-state-writer", "amp-suspended"}, book: []Right{{Role: RoleStateWriter}, {Role: RoleSuspended}}, structured: []Right{}},
		// The finding: enterprise-shaped groups never read as another
		// enterprise's role, nor as AMP's own roles.
		{groups: []string{"acme-admin-admin"}, book: []Right{}, structured: []Right{}},
		{groups: []string{"amp-anything", "offline_access", "Admins"}, book: []Right{}, structured: []Right{}},
		// Structured names: the same with or without the book's.
		{groups: []string{"amp:operator"}, book: []Right{{Role: RoleOperator}}, structured: []Right{{Role: RoleOperator}}},
		{groups: []string{"amp:enterprise-admin:acme", "amp:enterprise-member:acme-admin"},
			book:       []Right{admin("acme"), member("acme-admin")},
			structured: []Right{admin("acme"), member("acme-admin")}},
		{groups: []string{"amp:state-writer", "amp:suspended"}, book: []Right{{Role: RoleStateWriter}, {Role: RoleSuspended}}, structured: []Right{{Role: RoleStateWriter}, {Role: RoleSuspended}}},
		// Malformed structured names grant nothing.
		{groups: []string{"amp:operator:acme", "amp:enterprise-admin", "amp:enterprise-admin:", "amp:enterprise-admin:Acme", "amp:root", "amp:enterprise-admin:a:b"}, book: []Right{}, structured: []Right{}},
	} {
		if got := RightsFromGroups(c.groups, true); !slices.Equal(got, c.book) {
			t.Errorf("%q with book names: %v, want %v", c.groups, got, c.book)
		}
		if got := RightsFromGroups(c.groups, false); !slices.Equal(got, c.structured) {
			t.Errorf("%q structured only: %v, want %v", c.groups, got, c.structured)
		}
	}
}

func TestRightStringRoundTrips(t *testing.T) {
	for _, r := range []Right{{Role: RoleOperator}, {Role: RoleEnterpriseAdmin, Enterprise: "acme"}, {Role: RoleStateWriter}} {
		if got := RightsFromGroups([]string{r.String()}, false); !slices.Equal(got, []Right{r}) {
			t.Errorf("%s: %v", r, got)
		}
	}
}

// A token record written before rights existed holds the book's groups
// that POST /tokens built from its role; it is read as those rights.
func TestLegacyTokenRecordMigrated(t *testing.T) {
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokens := NewTokens(st)
	secret, tok, err := tokens.Create("ci", "ci@api", []Right{{Role: RoleOperator}})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	b, _ := st.GetMeta(tokenMetaPrefix + tok.ID)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "rights")
	raw["groups"] = []string{"acme-admin"}
	b, _ = json.Marshal(raw)
	if err := st.PutMeta(tokenMetaPrefix+tok.ID, b); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	p, err := NewTokens(st).Authenticate(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Right{{Role: RoleEnterpriseAdmin, Enterprise: "acme"}}; !slices.Equal(p.Rights, want) || !slices.Equal(p.Groups, []string{"amp:enterprise-admin:acme"}) {
		t.Fatalf("migrated principal %+v, want rights %v", p, want)
	}
	list, err := NewTokens(st).List()
	if err != nil || len(list) != 1 || !slices.Equal(list[0].Rights, p.Rights) || list[0].Groups != nil {
		t.Fatalf("list %+v %v", list, err)
	}
}

// A token with a right on a deleted (retired) enterprise no longer
// authenticates, and RevokeEnterprise removes it while leaving others.
func TestTokensOfRetiredEnterprise(t *testing.T) {
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	retired := map[string]bool{}
	tokens := NewTokens(st)
	tokens.SetRetired(func(id string) bool { return retired[id] })
	acme, acmeTok, _ := tokens.Create("a", "a@api", []Right{{Role: RoleEnterpriseAdmin, Enterprise: "acme"}})
	sb, _, _ := tokens.Create("s", "s@api", []Right{{Role: RoleEnterpriseMember, Enterprise: "starbucks"}})
	auth := func(secret string) error {
		req, _ := http.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		fresh := NewTokens(st) // no cache: what another replica sees
		fresh.SetRetired(tokens.retired)
		_, err := fresh.Authenticate(req)
		return err
	}
	if auth(acme) != nil || auth(sb) != nil {
		t.Fatal("tokens refused before the deletion")
	}
	retired["acme"] = true
	if auth(acme) == nil {
		t.Fatal("the token of a deleted enterprise still authenticates")
	}
	ids, err := tokens.RevokeEnterprise("acme")
	if err != nil || !slices.Equal(ids, []string{acmeTok.ID}) {
		t.Fatalf("revoked %v %v", ids, err)
	}
	if list, _ := tokens.List(); len(list) != 1 || list[0].Rights[0].Enterprise != "starbucks" {
		t.Fatalf("left %+v", list)
	}
	if auth(sb) != nil {
		t.Fatal("another enterprise's token was revoked")
	}
}
