package rest

import (
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/audit"
	"github.com/amp-edge/amp/internal/backup"
)

// TestBackupOperatorsOnly: a backup holds every enterprise and the hashed
// API tokens, so only operators may take one.
func TestBackupOperatorsOnly(t *testing.T) {
	s := newSecured(t)
	for _, role := range []string{"alice", "mallory"} {
		if b := s.as(role).want(403, "GET", "/admin/backup", ""); !strings.Contains(b, "forbidden") {
			t.Fatalf("%s: %s", role, b)
		}
	}
	s.as("").want(401, "GET", "/admin/backup", "")
	b := s.as("operator").want(200, "GET", "/admin/backup", "")
	sum, err := backup.Verify(strings.NewReader(b))
	if err != nil {
		t.Fatalf("the backup an operator got: %v", err)
	}
	if sum.Header.Last != s.eng.Snapshot().Index || sum.Trailer.Objects == 0 || sum.Trailer.Metas < 3 {
		t.Fatalf("backup %+v at index %d", sum, s.eng.Snapshot().Index)
	}
	// Both the denied and the allowed backups are in the audit trail.
	recs, err := s.trail.Query(audit.Filter{PathPrefix: "/admin/backup"})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, r := range recs {
		outcomes[r.Principal+" "+r.Action+" "+r.Outcome]++
	}
	if outcomes["operator backup allowed"] != 1 || outcomes["alice backup denied"] != 1 || outcomes["mallory backup denied"] != 1 {
		t.Fatalf("audit records of backups: %v", outcomes)
	}
}
