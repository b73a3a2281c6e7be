// Package seal is the SealedSecret format of Bitnami's sealed-secrets
// (bitnami.com/v1alpha1), byte-compatible with its controller and kubeseal
// (docs/lifecycle.md, "Sealed secrets"): each value of a Kubernetes Secret
// is encrypted on its own with a fresh AES-256-GCM key, and that key is
// wrapped with RSA-OAEP-SHA256 for a cluster's public key. The OAEP label
// pins the value to where it may be unsealed: "namespace/name" (strict),
// "namespace" (namespace-wide) or nothing (cluster-wide).
//
// The same code seals (amp seal) and unseals (the edge agent's
// sealed-secret applier), so it imports the standard library only: the
// agent links no server code (test/deps).
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Scope is how far a sealed value may move (the sealed-secrets scopes).
type Scope int

const (
	// Strict pins a value to one namespace and one name (the default).
	Strict Scope = iota
	// NamespaceWide pins it to a namespace: any name there.
	NamespaceWide
	// ClusterWide lets it be unsealed in any namespace, under any name.
	ClusterWide
)

// The annotations that carry the scope, on the SealedSecret and its
// template (sealed-secrets' own names).
const (
	AnnotationNamespaceWide = "sealedsecrets.bitnami.com/namespace-wide"
	AnnotationClusterWide   = "sealedsecrets.bitnami.com/cluster-wide"
)

// APIVersion and Kind of a SealedSecret.
const (
	APIVersion = "bitnami.com/v1alpha1"
	Kind       = "SealedSecret"
)

// ParseScope reads a scope as kubeseal's --scope spells it ("" is strict).
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "strict":
		return Strict, nil
	case "namespace-wide":
		return NamespaceWide, nil
	case "cluster-wide":
		return ClusterWide, nil
	}
	return Strict, fmt.Errorf("scope %q: want strict, namespace-wide or cluster-wide", s)
}

func (s Scope) String() string {
	switch s {
	case NamespaceWide:
		return "namespace-wide"
	case ClusterWide:
		return "cluster-wide"
	}
	return "strict"
}

// Label is the RSA-OAEP label of a value sealed for namespace/name with
// scope: decryption fails unless the same label is given.
func Label(namespace, name string, scope Scope) []byte {
	switch scope {
	case ClusterWide:
		return nil
	case NamespaceWide:
		return []byte(namespace)
	}
	return []byte(namespace + "/" + name)
}

// ScopeOf reads the scope an object's annotations declare (cluster-wide
// wins over namespace-wide; neither: strict).
func ScopeOf(annotations map[string]string) Scope {
	if annotations[AnnotationClusterWide] == "true" {
		return ClusterWide
	}
	if annotations[AnnotationNamespaceWide] == "true" {
		return NamespaceWide
	}
	return Strict
}

// withScope returns annotations (a copy) declaring scope and no other.
func withScope(annotations map[string]string, scope Scope) map[string]string {
	out := map[string]string{}
	for k, v := range annotations {
		out[k] = v
	}
	delete(out, AnnotationNamespaceWide)
	delete(out, AnnotationClusterWide)
	switch scope {
	case NamespaceWide:
		out[AnnotationNamespaceWide] = "true"
	case ClusterWide:
		out[AnnotationClusterWide] = "true"
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sessionKeyBytes is the AES-256 key wrapped for each value.
const sessionKeyBytes = 32

// Encrypt seals plaintext for pub: the RSA-OAEP-SHA256 (with label)
// ciphertext of a fresh AES-256 key, preceded by its length in two bytes
// big-endian, then the AES-GCM ciphertext of plaintext under that key with
// a zero nonce (the key is used once). This is sealed-secrets'
// HybridEncrypt byte for byte.
func Encrypt(rnd io.Reader, pub *rsa.PublicKey, plaintext, label []byte) ([]byte, error) {
	key := make([]byte, sessionKeyBytes)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rnd, pub, key, label)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(wrapped)+len(plaintext)+gcm.Overhead()), uint16(len(wrapped)))
	out = append(out, wrapped...)
	return gcm.Seal(out, make([]byte, gcm.NonceSize()), plaintext, nil), nil
}

// ErrNoKey is a ciphertext none of the keys opens: sealed for another
// key, another cluster, or with another label (moved out of its scope).
var ErrNoKey = errors.New("no key of this cluster decrypts it (sealed for another key or cluster, or moved out of its scope)")

// Decrypt opens a ciphertext of Encrypt with whichever of keys sealed it.
func Decrypt(keys []*rsa.PrivateKey, ciphertext, label []byte) ([]byte, error) {
	if len(ciphertext) < 2 {
		return nil, errors.New("too short to be sealed data")
	}
	n := int(binary.BigEndian.Uint16(ciphertext))
	if len(ciphertext) < 2+n {
		return nil, errors.New("too short to be sealed data")
	}
	wrapped, sealed := ciphertext[2:2+n], ciphertext[2+n:]
	for _, k := range keys {
		key, err := rsa.DecryptOAEP(sha256.New(), nil, k, wrapped, label)
		if err != nil {
			continue
		}
		gcm, err := newGCM(key)
		if err != nil {
			continue
		}
		if plain, err := gcm.Open(nil, make([]byte, gcm.NonceSize()), sealed, nil); err == nil {
			return plain, nil
		}
	}
	return nil, ErrNoKey
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ObjectMeta is the part of Kubernetes object metadata a SealedSecret
// carries (name, namespace, labels, annotations); everything else of the
// input (uid, resourceVersion, owner references, managed fields) is left
// out, as kubeseal leaves out what would leak or not apply elsewhere.
type ObjectMeta struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Secret is a Kubernetes Secret (v1) as amp seal reads it and the agent
// writes it.
type Secret struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   ObjectMeta        `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
}

// SealedSecret is a bitnami.com/v1alpha1 SealedSecret.
type SealedSecret struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       Spec       `json:"spec"`
}

// Spec is a SealedSecret's spec: the template of the Secret to create
// and the sealed values (base64 of Encrypt's output), by key.
type Spec struct {
	Template      Template          `json:"template"`
	EncryptedData map[string]string `json:"encryptedData"`
}

// Template is the Secret's metadata, type and immutability.
type Template struct {
	Metadata  ObjectMeta `json:"metadata"`
	Type      string     `json:"type,omitempty"`
	Immutable *bool      `json:"immutable,omitempty"`
	// Data are sealed-secrets' templates over the unsealed values; AMP's
	// agent refuses them (Unseal), the controller renders them.
	Data map[string]string `json:"data,omitempty"`
}

// lastApplied are the annotations kubectl and kubecfg keep a whole copy
// of an applied object in: sealing them would leak the secret in clear.
var lastApplied = []string{"kubectl.kubernetes.io/last-applied-configuration", "kubecfg.ksonnet.io/last-applied-configuration"}

// Check says what makes s unsealable, naming the field (kubeseal's rules):
// a Secret with a name and, unless cluster-wide, a namespace; data that
// is base64 (decoding did that) and at least one value.
func (s *Secret) Check(scope Scope) error {
	switch {
	case s.Kind != "" && s.Kind != "Secret":
		return fmt.Errorf("kind: %q is not a Secret", s.Kind)
	case s.APIVersion != "" && s.APIVersion != "v1":
		return fmt.Errorf("apiVersion: %q, want v1", s.APIVersion)
	case s.Metadata.Name == "":
		return errors.New("metadata.name: a Secret to seal needs a name")
	case s.Metadata.Namespace == "" && scope != ClusterWide:
		return fmt.Errorf("metadata.namespace: a Secret sealed with the %s scope needs a namespace", scope)
	case len(s.Data)+len(s.StringData) == 0:
		return errors.New("data: the Secret has no values to seal (data and stringData are empty)")
	}
	return nil
}

// Seal turns s into a SealedSecret for pub. scope nil takes the scope
// s's annotations declare (as kubeseal without --scope); otherwise it is
// written into the annotations. Each value of data and stringData is
// sealed on its own (stringData wins for a key in both, as the API
// server merges them).
func Seal(rnd io.Reader, pub *rsa.PublicKey, s *Secret, scope *Scope) (*SealedSecret, error) {
	sc := ScopeOf(s.Metadata.Annotations)
	if scope != nil {
		sc = *scope
	}
	if err := s.Check(sc); err != nil {
		return nil, err
	}
	meta := s.Metadata
	meta.Annotations = withScope(meta.Annotations, sc)
	for _, k := range lastApplied {
		delete(meta.Annotations, k)
	}
	if len(meta.Annotations) == 0 {
		meta.Annotations = nil
	}
	values := map[string][]byte{}
	for k, v := range s.Data {
		values[k] = v
	}
	for k, v := range s.StringData {
		values[k] = []byte(v)
	}
	label := Label(meta.Namespace, meta.Name, sc)
	enc := make(map[string]string, len(values))
	for _, k := range sortedKeys(values) {
		ct, err := Encrypt(rnd, pub, values[k], label)
		if err != nil {
			return nil, fmt.Errorf("data.%s: %w", k, err)
		}
		enc[k] = base64.StdEncoding.EncodeToString(ct)
	}
	return &SealedSecret{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata:   ObjectMeta{Name: meta.Name, Namespace: meta.Namespace, Annotations: withScope(nil, sc)},
		Spec:       Spec{Template: Template{Metadata: meta, Type: s.Type, Immutable: s.Immutable}, EncryptedData: enc},
	}, nil
}

// SealRaw seals one value as kubeseal --raw does: the base64 of Encrypt's
// output, for the name and namespace the scope needs.
func SealRaw(rnd io.Reader, pub *rsa.PublicKey, namespace, name string, scope Scope, value []byte) (string, error) {
	if scope != ClusterWide && namespace == "" {
		return "", fmt.Errorf("namespace: a value sealed with the %s scope needs a namespace", scope)
	}
	if scope == Strict && name == "" {
		return "", errors.New("name: a value sealed with the strict scope needs the Secret's name")
	}
	ct, err := Encrypt(rnd, pub, value, Label(namespace, name, scope))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// Check says what makes ss malformed, naming the field: what the
// configuration accepts and the agent can act on.
func (ss *SealedSecret) Check() error {
	switch {
	case ss.APIVersion != APIVersion:
		return fmt.Errorf("apiVersion: %q, want %s", ss.APIVersion, APIVersion)
	case ss.Kind != Kind:
		return fmt.Errorf("kind: %q, want %s", ss.Kind, Kind)
	case ss.Metadata.Name == "":
		return errors.New("metadata.name: empty")
	case ss.Metadata.Namespace == "":
		return errors.New("metadata.namespace: empty (a SealedSecret lives in a namespace, whatever its scope)")
	case len(ss.Spec.EncryptedData) == 0:
		return errors.New("spec.encryptedData: empty")
	}
	for _, k := range sortedKeys(ss.Spec.EncryptedData) {
		if _, err := base64.StdEncoding.DecodeString(ss.Spec.EncryptedData[k]); err != nil {
			return fmt.Errorf("spec.encryptedData.%s: not base64: %v", k, err)
		}
	}
	return nil
}

// Unseal opens every value of ss with keys, for the namespace and name
// ss has now (so a strict value moved elsewhere does not open), and
// returns the Secret of its template. Templated values (spec.template.data)
// are refused: AMP's agent does not run sealed-secrets' template language.
func (ss *SealedSecret) Unseal(keys []*rsa.PrivateKey) (*Secret, error) {
	if err := ss.Check(); err != nil {
		return nil, err
	}
	if len(ss.Spec.Template.Data) > 0 {
		return nil, errors.New("spec.template.data: templated values are not supported by AMP's agent (the sealed-secrets controller renders them)")
	}
	label := Label(ss.Metadata.Namespace, ss.Metadata.Name, ScopeOf(ss.Metadata.Annotations))
	data := map[string][]byte{}
	var bad []string
	for _, k := range sortedKeys(ss.Spec.EncryptedData) {
		ct, _ := base64.StdEncoding.DecodeString(ss.Spec.EncryptedData[k])
		plain, err := Decrypt(keys, ct, label)
		if err != nil {
			bad = append(bad, fmt.Sprintf("spec.encryptedData.%s: %v", k, err))
			continue
		}
		data[k] = plain
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	meta := ss.Spec.Template.Metadata
	meta.Name, meta.Namespace = ss.Metadata.Name, ss.Metadata.Namespace
	typ := ss.Spec.Template.Type
	if typ == "" {
		typ = "Opaque"
	}
	return &Secret{APIVersion: "v1", Kind: "Secret", Metadata: meta, Type: typ, Immutable: ss.Spec.Template.Immutable, Data: data}, nil
}

// Fingerprint names a public key: the hex SHA-256 of its DER
// SubjectPublicKeyInfo.
func Fingerprint(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// PublicKeyFromPEM reads the sealing key from a PEM certificate (the
// controller's and AMP's seal-key) or PEM public key.
func PublicKeyFromPEM(b []byte) (*rsa.PublicKey, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM certificate or public key in it")
		}
		var pub any
		var err error
		switch blk.Type {
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
				pub = c.PublicKey
			}
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.ToLower(blk.Type), err)
		}
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: the key is %T, sealing needs RSA", strings.ToLower(blk.Type), pub)
		}
		return k, nil
	}
}

// PrivateKeysFromPEM reads RSA private keys (PKCS #1 or PKCS #8 PEM).
func PrivateKeysFromPEM(list []string) ([]*rsa.PrivateKey, error) {
	out := make([]*rsa.PrivateKey, 0, len(list))
	for i, s := range list {
		blk, _ := pem.Decode([]byte(s))
		if blk == nil {
			return nil, fmt.Errorf("keys[%d]: not PEM", i)
		}
		var k any
		var err error
		switch blk.Type {
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		default:
			err = fmt.Errorf("PEM type %q is not a private key", blk.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("keys[%d]: not an RSA key", i)
		}
		out = append(out, rk)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KindSealedSecret is the kind of desired state the agent link carries
// for a SealedSecret AMP's agent unseals (internal/agent/sealed).
const KindSealedSecret = "sealed-secret"

// ObjectSpec is a sealed-secret object's spec on the link: the
// SealedSecret and the private keys (PEM, newest first) of the cluster
// it is for, which only that cluster's agent receives.
type ObjectSpec struct {
	SealedSecret SealedSecret `json:"sealedSecret"`
	Keys         []string     `json:"keys"`
}
