package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// TestGNMIPushToAnotherAMP: the generic gNMI southbound adapter pushes the
// acme enterprise, over mutual TLS, to AMP's own gNMI server running as the
// target in another process; a change follows; a target that restarts empty
// is resynced without anyone asking.
func TestGNMIPushToAnotherAMP(t *testing.T) {
	pki := testenv.NewPKI(t)
	serverCrt, serverKey := pki.Issue(t, "target", true)
	clientCrt, clientKey := pki.Issue(t, "amp-push", false, "AetherROCAdmin") // OU = group: an operator at the target
	targetArgs := []string{"--adapters", "none", "--gnmi-tls-cert", serverCrt, "--gnmi-tls-key", serverKey, "--gnmi-tls-client-ca", pki.CA}

	tgt := testenv.Start(t, t.TempDir(), append([]string{"--gnmi-listen", "127.0.0.1:0"}, targetArgs...)...)
	addr := tgt.GNMIAddr(t)
	tgt.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)

	cfg := filepath.Join(t.TempDir(), "push.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`push:
- name: lab
  address: %s
  source: /aether/v2.1.x/acme
  ca: %s
  cert: %s
  key: %s
`, addr, pki.CA, clientCrt, clientKey)), 0o600)
	// The demo without its emulators: the target AMP would refuse site
	// endpoints its operator did not grant.
	src := testenv.Start(t, t.TempDir(), "--demo", "--demo-backends=false", "--adapters", "none", "--gnmi-push-config", cfg, "--probe-every", "200ms",
		"--backend-allow-net", "127.0.0.1") // the operator's target runs on loopback

	slice := "/aether/v2.1.x/acme/site/acme-chicago/slice/video"
	waitFor(t, func() bool {
		code, _, _, _ := tgt.Do(t.Context(), "GET", slice, "")
		return code == 200
	}, "the acme tree arrives at the target")
	// The target recorded the push as a transaction by the client
	// certificate's identity.
	var txns []map[string]any
	json.Unmarshal(tgt.Must(t, 200, "GET", "/amp/transactions?limit=1", ""), &txns)
	if txns[0]["username"] != "amp-push" || txns[0]["source"] != "gnmi" {
		t.Fatalf("target's transaction: %v", txns[0])
	}
	// A change at the source follows.
	src.Must(t, 200, "PATCH", slice, `{"description":"pushed over gNMI"}`)
	waitFor(t, func() bool {
		_, b, _, _ := tgt.Do(t.Context(), "GET", slice+"/description", "")
		return strings.Contains(string(b), "pushed over gNMI")
	}, "the change reaches the target")

	// The target restarts EMPTY on the same address: the source notices
	// and pushes everything again.
	tgt.Kill()
	fresh, err := testenv.StartErr(testenv.Binary(t), t.TempDir(), append([]string{"--gnmi-listen", addr}, targetArgs...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Stop()
	fresh.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	waitFor(t, func() bool {
		_, b, _, _ := fresh.Do(t.Context(), "GET", slice+"/description", "")
		return strings.Contains(string(b), "pushed over gNMI")
	}, "the restarted target is resynced")
	var st struct{ Summary map[string]int }
	json.Unmarshal(src.Must(t, 200, "GET", "/sync-status?adapter=gnmi", ""), &st)
	if st.Summary["in-sync"] != 1 {
		t.Fatalf("sync status %v", st.Summary)
	}
}
