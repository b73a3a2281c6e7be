package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
)

// testKey is a 2048-bit key: the format does not depend on the size, and
// 4096-bit keys take seconds to make on a shared machine.
func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCiphertextLayout opens Encrypt's output by hand, as sealed-secrets'
// HybridDecrypt does: two bytes of RSA length, RSA-OAEP-SHA256 of a
// 32-byte key under the label, then AES-GCM with a zero nonce.
func TestCiphertextLayout(t *testing.T) {
	k := testKey(t)
	ct, err := Encrypt(rand.Reader, &k.PublicKey, []byte("s3cret"), []byte("apps/db"))
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint16(ct))
	if n != k.Size() {
		t.Fatalf("RSA length prefix %d, want the key size %d", n, k.Size())
	}
	sk, err := rsa.DecryptOAEP(sha256.New(), nil, k, ct[2:2+n], []byte("apps/db"))
	if err != nil || len(sk) != 32 {
		t.Fatalf("session key: %v (len %d)", err, len(sk))
	}
	block, _ := aes.NewCipher(sk)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, make([]byte, 12), ct[2+n:], nil)
	if err != nil || string(plain) != "s3cret" {
		t.Fatalf("AES-GCM: %q, %v", plain, err)
	}
}

func TestScopes(t *testing.T) {
	k := testKey(t)
	keys := []*rsa.PrivateKey{k}
	secret := func() *Secret {
		return &Secret{APIVersion: "v1", Kind: "Secret", Metadata: ObjectMeta{Name: "db", Namespace: "apps", Labels: map[string]string{"app": "db"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"password":"czNjcmV0"}}`}},
			Data: map[string][]byte{"password": []byte("s3cret")}, StringData: map[string]string{"user": "admin"}}
	}
	for _, tc := range []struct {
		scope      Scope
		annotation string
		// where the SealedSecret is moved, and whether it still opens
		moves map[[2]string]bool
	}{
		{Strict, "", map[[2]string]bool{{"apps", "db"}: true, {"apps", "other"}: false, {"prod", "db"}: false}},
		{NamespaceWide, AnnotationNamespaceWide, map[[2]string]bool{{"apps", "db"}: true, {"apps", "other"}: true, {"prod", "db"}: false}},
		{ClusterWide, AnnotationClusterWide, map[[2]string]bool{{"apps", "db"}: true, {"apps", "other"}: true, {"prod", "x"}: true}},
	} {
		t.Run(tc.scope.String(), func(t *testing.T) {
			sc := tc.scope
			ss, err := Seal(rand.Reader, &k.PublicKey, secret(), &sc)
			if err != nil {
				t.Fatal(err)
			}
			if ss.APIVersion != "bitnami.com/v1alpha1" || ss.Kind != "SealedSecret" {
				t.Fatalf("type %s %s", ss.APIVersion, ss.Kind)
			}
			if _, leaked := ss.Spec.Template.Metadata.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; leaked {
				t.Fatal("the last-applied annotation (a clear copy) was kept")
			}
			if tc.annotation != "" && (ss.Metadata.Annotations[tc.annotation] != "true" || ss.Spec.Template.Metadata.Annotations[tc.annotation] != "true") {
				t.Fatalf("scope annotation %s missing: %v / %v", tc.annotation, ss.Metadata.Annotations, ss.Spec.Template.Metadata.Annotations)
			}
			for to, opens := range tc.moves {
				moved := *ss
				moved.Metadata.Namespace, moved.Metadata.Name = to[0], to[1]
				s, err := moved.Unseal(keys)
				if opens != (err == nil) {
					t.Fatalf("moved to %s/%s: err %v, want opens=%v", to[0], to[1], err, opens)
				}
				if err != nil {
					if !strings.Contains(err.Error(), "spec.encryptedData.password") {
						t.Fatalf("the error does not name the value: %v", err)
					}
					continue
				}
				if string(s.Data["password"]) != "s3cret" || string(s.Data["user"]) != "admin" || s.Metadata.Labels["app"] != "db" ||
					s.Metadata.Namespace != to[0] || s.Metadata.Name != to[1] || s.Type != "Opaque" {
					t.Fatalf("unsealed %+v", s)
				}
			}
		})
	}
}

// TestOldKeysKeepOpening: a value sealed for any of the keys opens.
func TestOldKeysKeepOpening(t *testing.T) {
	oldKey, newKey, other := testKey(t), testKey(t), testKey(t)
	v, err := SealRaw(rand.Reader, &oldKey.PublicKey, "apps", "db", Strict, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := base64.StdEncoding.DecodeString(v)
	if p, err := Decrypt([]*rsa.PrivateKey{newKey, oldKey}, ct, Label("apps", "db", Strict)); err != nil || string(p) != "x" {
		t.Fatalf("with the old key among the keys: %q %v", p, err)
	}
	if _, err := Decrypt([]*rsa.PrivateKey{newKey, other}, ct, Label("apps", "db", Strict)); err != ErrNoKey {
		t.Fatalf("without its key: %v, want ErrNoKey", err)
	}
}

func TestRefusalsNameTheField(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct {
		s     Secret
		scope Scope
		want  string
	}{
		{Secret{Kind: "ConfigMap", Metadata: ObjectMeta{Name: "a", Namespace: "b"}, StringData: map[string]string{"k": "v"}}, Strict, "kind:"},
		{Secret{Metadata: ObjectMeta{Namespace: "b"}, StringData: map[string]string{"k": "v"}}, Strict, "metadata.name:"},
		{Secret{Metadata: ObjectMeta{Name: "a"}, StringData: map[string]string{"k": "v"}}, NamespaceWide, "metadata.namespace:"},
		{Secret{Metadata: ObjectMeta{Name: "a", Namespace: "b"}}, Strict, "data:"},
	} {
		sc := tc.scope
		if _, err := Seal(rand.Reader, &k.PublicKey, &tc.s, &sc); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q…", tc.s, err, tc.want)
		}
	}
	// Cluster-wide needs no namespace.
	sc := ClusterWide
	if _, err := Seal(rand.Reader, &k.PublicKey, &Secret{Metadata: ObjectMeta{Name: "a"}, StringData: map[string]string{"k": "v"}}, &sc); err != nil {
		t.Error(err)
	}
	if _, err := SealRaw(rand.Reader, &k.PublicKey, "apps", "", Strict, []byte("x")); err == nil || !strings.HasPrefix(err.Error(), "name:") {
		t.Errorf("raw strict without a name: %v", err)
	}
	ss := SealedSecret{APIVersion: APIVersion, Kind: Kind, Metadata: ObjectMeta{Name: "a", Namespace: "b"},
		Spec: Spec{EncryptedData: map[string]string{"k": "%%%"}}}
	if err := ss.Check(); err == nil || !strings.HasPrefix(err.Error(), "spec.encryptedData.k:") {
		t.Errorf("bad base64: %v", err)
	}
	ss.Spec.EncryptedData["k"] = "AAAA"
	ss.Spec.Template.Data = map[string]string{"t": "{{ .k }}"}
	if _, err := ss.Unseal([]*rsa.PrivateKey{k}); err == nil || !strings.HasPrefix(err.Error(), "spec.template.data:") {
		t.Errorf("templates: %v", err)
	}
}
