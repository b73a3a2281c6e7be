package gnmipush

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/endpoint"
)

// A target's status message reaches the operator's log (sanitised), never
// the error text an enterprise reads in /sync-status.
func TestTargetWordsStayWithTheOperator(t *testing.T) {
	err := targetError("gNMI Set to lab:9339", status.Error(codes.PermissionDenied, "token for user root@lab expired\x1b[2J"))
	if strings.Contains(err.Error(), "root@lab") || !strings.Contains(err.Error(), "PermissionDenied") {
		t.Fatalf("tenant-visible text: %q", err)
	}
	be, ok := err.(*endpoint.BackendError)
	if !ok || be.LogValue().String() != "gNMI Set to lab:9339: the backend answered PermissionDenied: token for user root@lab expired[2J" {
		t.Fatalf("operator's log value: %v", err)
	}
}
