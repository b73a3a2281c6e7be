package auth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/store"
)

func TestTokens(t *testing.T) {
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokens := NewTokens(st)
	secret, tok, err := tokens.Create("ci", "ci-bot", []Right{{Role: RoleStateWriter}})
	if err != nil {
		t.Fatal(err)
	}
	// Only the hash is stored.
	raw, _ := st.GetMeta(tokenMetaPrefix + tok.ID)
	if strings.Contains(string(raw), secret[len("amp_"+tok.ID+"_"):]) {
		t.Fatal("the secret is stored in clear")
	}
	req, _ := http.NewRequest("GET", "/", nil)
	if _, err := NewTokens(st).Authenticate(req); err != ErrNoCredentials {
		t.Fatalf("no header: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	p, err := NewTokens(st).Authenticate(req) // a fresh cache reads the store
	if err != nil || p.Name != "ci-bot" || p.Via != "token" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"Bearer " + secret + "x", "Bearer amp_zzzzzzzzzzzz_x", "Basic abc", "Bearer", "Bearer amp_" + tok.ID} {
		req.Header.Set("Authorization", bad)
		if _, err := tokens.Authenticate(req); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
