package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTokenUsedTellsWhen: a used token is refused saying when it was
// used (to its holder only: another secret with the same id learns
// nothing), an expired one saying when it expired; a restored token works
// again; minting forgets the used tokens that would have expired.
func TestTokenUsedTellsWhen(t *testing.T) {
	ts, c, st := tokens(t)
	secret, _, err := ts.Mint("ace-x", "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Check(secret)
	if err != nil {
		t.Fatal(err)
	}
	usedAt := c.t
	if err := ts.Take(tok); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Minute)
	_, err = ts.Check(secret)
	var used *UsedError
	if !errors.As(err, &used) || !used.At.Equal(usedAt) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "already used at "+usedAt.Format(time.RFC3339)) {
		t.Fatalf("a used token: %v", err)
	}
	if _, err := ts.Check("ampreg_" + tok.ID + "_guess"); errors.As(err, &used) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("another secret with a used token's id: %v", err)
	}
	if err := ts.Restore(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Check(secret); err != nil {
		t.Fatalf("a restored token: %v", err)
	}
	c.t = tok.Expires
	if _, err := ts.Check(secret); !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "expired at "+tok.Expires.UTC().Format(time.RFC3339)) {
		t.Fatalf("an expired token: %v", err)
	}
	// Used, then past its expiry: the next mint forgets it.
	if err := ts.Take(tok); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.Mint("ace-x", "admin", time.Hour); err != nil {
		t.Fatal(err)
	}
	if b, err := st.GetMeta(usedPrefix + tok.ID); err != nil || b != nil {
		t.Fatalf("the used record outlived the token's expiry: %q %v", b, err)
	}
}
