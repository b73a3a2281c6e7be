package sealed

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amp-edge/amp/internal/seal"
	kubeenv "github.com/amp-edge/amp/internal/testenv/kube"
)

var ctx = context.Background()

func keyPEM(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// spec seals {password: value} as apps/name (immutable when asked) for
// sealFor, carrying keys.
func spec(t *testing.T, sealFor *rsa.PrivateKey, name, value string, immutable bool, keys ...*rsa.PrivateKey) json.RawMessage {
	t.Helper()
	s := &seal.Secret{Metadata: seal.ObjectMeta{Name: name, Namespace: "apps", Labels: map[string]string{"app": name}}, StringData: map[string]string{"password": value}}
	if immutable {
		s.Immutable = &immutable
	}
	ss, err := seal.Seal(rand.Reader, &sealFor.PublicKey, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pems []string
	for _, k := range keys {
		pems = append(pems, keyPEM(k))
	}
	b, err := json.Marshal(seal.ObjectSpec{SealedSecret: *ss, Keys: pems})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestApplier, on a real kube-apiserver: a Secret created from a
// SealedSecret (old and new keys both open), read back; a change made at
// the site restored, naming the data key and never the value; an
// immutable Secret replaced when it must change; a Secret AMP did not
// make left alone; the undeclared pruned, the foreign kept; a spec
// without keys or sealed for another cluster refused or failed, naming why.
func TestApplier(t *testing.T) {
	site := kubeenv.Start(t)
	cs := site.Client()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := New(cs)
	oldKey, newKey, other := mustKey(t), mustKey(t), mustKey(t)
	get := func(name string) *corev1.Secret {
		t.Helper()
		s, err := cs.CoreV1().Secrets("apps").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	db := spec(t, oldKey, "db", "first", false, newKey, oldKey)
	if err := a.Validate("db", db); err != nil {
		t.Fatal(err)
	}
	changed, err := a.Apply(ctx, "db", db)
	if err != nil || strings.Join(changed, ";") != "create secret apps/db" {
		t.Fatalf("first apply: %v %v", changed, err)
	}
	s := get("db")
	if string(s.Data["password"]) != "first" || s.Labels[SecretLabel] != "db" || s.Labels["app"] != "db" || s.Labels["app.kubernetes.io/managed-by"] != "amp" {
		t.Fatalf("the Secret: %v %v", s.Labels, s.Data)
	}
	if changed, err := a.Apply(ctx, "db", db); err != nil || len(changed) != 0 {
		t.Fatalf("an unchanged apply changed %v, %v", changed, err)
	}

	// Changed at the site: restored, and the report names the key only.
	s.Data["password"] = []byte("by-hand")
	if _, err := cs.CoreV1().Secrets("apps").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	changed, err = a.Apply(ctx, "db", db)
	if err != nil || strings.Join(changed, ";") != "update secret apps/db: data password" || string(get("db").Data["password"]) != "first" {
		t.Fatalf("drift: %v %v", changed, err)
	}

	// Immutable: replaced when its value must change.
	imm := spec(t, newKey, "imm", "v1", true, newKey)
	if _, err := a.Apply(ctx, "imm", imm); err != nil {
		t.Fatal(err)
	}
	imm2 := spec(t, newKey, "imm", "v2", true, newKey)
	if _, err := a.Apply(ctx, "imm", imm2); err != nil || string(get("imm").Data["password"]) != "v2" {
		t.Fatalf("immutable replaced: %v", err)
	}

	// A Secret of that name AMP did not make.
	if _, err := cs.CoreV1().Secrets("apps").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "apps"},
		StringData: map[string]string{"password": "theirs"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, "theirs", spec(t, newKey, "theirs", "ours", false, newKey)); err == nil || !strings.Contains(err.Error(), "AMP leaves it alone") {
		t.Fatalf("a foreign Secret: %v", err)
	}
	if string(get("theirs").Data["password"]) != "theirs" {
		t.Fatal("a foreign Secret was changed")
	}

	// Sealed for another cluster's key; no keys at all.
	if _, err := a.Apply(ctx, "x", spec(t, other, "x", "v", false, newKey, oldKey)); err == nil || !strings.Contains(err.Error(), "spec.encryptedData.password: no key of this cluster decrypts it") {
		t.Fatalf("another cluster's: %v", err)
	}
	if err := a.Validate("x", spec(t, other, "x", "v", false)); err == nil || !strings.HasPrefix(err.Error(), "keys:") {
		t.Fatalf("no keys: %v", err)
	}

	// Pruned: imm no longer declared; the foreign Secret stays.
	removed, err := a.Prune(ctx, map[string]bool{"db": true})
	if err != nil || strings.Join(removed, ",") != "apps/imm" {
		t.Fatalf("prune removed %v, %v", removed, err)
	}
	get("db")
	get("theirs")
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
