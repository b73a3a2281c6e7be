package monitor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// TestSecretChangesReachAlertmanager: a receiver without its secret
// degrades the configuration; setting the secret wakes the adapter
// (Trigger) and changes the rendered body, as does a new value, so the
// file Alertmanager reads is written again, readable by its owner only.
func TestSecretChangesReachAlertmanager(t *testing.T) {
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	secrets := &Secrets{Meta: st}
	a, err := New(sch, Config{AlertmanagerConfig: filepath.Join(dir, "alertmanager.yml"), AlertmanagerURL: "http://127.0.0.1:9", Secrets: secrets}, NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Watch(ctx)
	time.Sleep(1500 * time.Millisecond) // past Watch's first poll, which must not wake it: nothing changed
	select {
	case <-a.Changed():
		t.Fatal("the adapter was woken with no secret changed")
	default:
	}
	all := []Alerting{{Tenant: "acme", Receivers: []Receiver{{ID: "chat", Slack: &Slack{URLSecret: "chat-url"}}}}}

	d1 := a.renderAlertmanager(all, nil)
	if !strings.Contains(d1.Degraded, `acme/chat (secret "chat-url" is not set)`) || bytes.Contains(d1.Body, []byte("api_url_file")) {
		t.Fatalf("without its secret: degraded %q\n%s", d1.Degraded, d1.Body)
	}
	woken := func(what string, set func()) {
		t.Helper()
		ch := a.Changed()
		set()
		select {
		case <-ch:
		case <-time.After(30 * time.Second): // liveness bound, not a figure
			t.Fatalf("the adapter was not woken by %s", what)
		}
	}
	woken("a new secret", func() {
		if err := secrets.Put("acme", "chat-url", "https://chat.example/hooks/one"); err != nil {
			t.Fatal(err)
		}
	})
	d2 := a.renderAlertmanager(all, nil)
	if d2.Degraded != "" || !bytes.Contains(d2.Body, []byte("api_url_file: "+SecretFile(a.secretsDir(), "acme", "chat-url"))) || bytes.Contains(d2.Body, []byte("chat.example")) {
		t.Fatalf("with its secret: degraded %q\n%s", d2.Degraded, d2.Body)
	}
	woken("a changed secret", func() { secrets.Put("acme", "chat-url", "https://chat.example/hooks/two") })
	d3 := a.renderAlertmanager(all, nil)
	if bytes.Equal(d2.Body, d3.Body) {
		t.Fatal("a changed secret renders the same body: it would not be written again")
	}
	if err := a.writeSecrets(); err != nil {
		t.Fatal(err)
	}
	path := SecretFile(a.secretsDir(), "acme", "chat-url")
	b, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(b) != "https://chat.example/hooks/two" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %q %v %v", b, fi.Mode(), err)
	}
	if err := secrets.Put("acme", "x", "not a url"); err == nil {
		t.Fatal("a secret that is not an http(s) URL was kept")
	}
}
