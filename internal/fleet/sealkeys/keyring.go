// Package sealkeys keeps each cluster's sealing keys (docs/lifecycle.md,
// "Sealed secrets"): RSA 4096 key pairs with a self-signed certificate,
// like the sealed-secrets controller's, one set per cluster so that what
// is sealed for one site opens nowhere else.
//
// The private keys live in the store's metadata (seal-key/<cluster>/<fingerprint>),
// shared by every replica and carried by amp backup; the configuration
// lists the keys by fingerprint (fleet seal-key entries), so a renewal is
// a transaction: it is in the history, and it wakes the cluster's agent,
// whose sealed-secret objects (Source) carry the cluster's listed private
// keys. A new key is active (it seals) from its creation; every listed key
// keeps unsealing.
package sealkeys

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/seal"
)

const (
	// Bits is the size of a sealing key: the controller's default.
	Bits = 4096
	// RenewAfter is the age at which a cluster gets a new active key
	// (the controller's default key-renew-period).
	RenewAfter = 30 * 24 * time.Hour
	// certLifetime is the certificate's: the controller's default key-ttl.
	// kubeseal refuses an expired certificate; the key itself never expires.
	certLifetime = 10 * 365 * 24 * time.Hour
	// SetName is the model set the keys are listed in.
	SetName = "fleet"

	metaPrefix = "seal-key/"
)

// Key is one of a cluster's sealing keys, without its private half.
type Key struct {
	Fingerprint string
	Cert        []byte // PEM
	Created     time.Time
}

// record is a key in the store's metadata.
type record struct {
	Cert    string    `json:"cert"`
	Key     string    `json:"key"` // PKCS #1 PEM
	Created time.Time `json:"created"`
}

// Keyring keeps the sealing keys of one engine's clusters.
type Keyring struct {
	Eng *config.Engine
	// Now is the clock (nil: time.Now); Bits the key size (0: Bits).
	Now  func() time.Time
	Bits int
	Log  *slog.Logger
	mu   sync.Mutex // one generation at a time in this process
}

func (k *Keyring) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Set is the newest fleet set loaded (nil: none).
func Set(sch *schema.Schema) *schema.ModelSet { return sch.Set(SetName, "") }

// EntryKey is the storage key of a cluster's sealing entry (its keys and
// sealed secrets).
func EntryKey(set *schema.ModelSet, cluster string) string {
	return schema.RootKey(set, "") + "/sealing/" + schema.EscapeSegment(cluster)
}

// EntryPath is its REST path.
func EntryPath(set *schema.ModelSet, cluster string) string {
	return schema.RESTBase(set) + "/sealing/" + schema.EscapeSegment(cluster)
}

func metaKey(cluster, fp string) string {
	return metaPrefix + schema.EscapeSegment(cluster) + "/" + fp
}

// Fingerprints are the keys the configuration lists for cluster in snap.
func Fingerprints(set *schema.ModelSet, snap *config.Snapshot, cluster string) []string {
	if set == nil {
		return nil
	}
	o, ok := snap.Get(EntryKey(set, cluster))
	if !ok {
		return nil
	}
	return fingerprintsOf(o)
}

// fingerprintsOf reads a sealing entry's seal-key list.
func fingerprintsOf(o *config.Object) []string {
	list, _ := o.Data["seal-key"].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// load reads the listed keys of cluster from the metadata, newest first.
// A listed fingerprint with no key in the metadata (written by hand) is
// an error naming it.
func load(eng *config.Engine, set *schema.ModelSet, snap *config.Snapshot, cluster string) ([]Key, []record, error) {
	type pair struct {
		key Key
		rec record
	}
	var pairs []pair
	for _, fp := range Fingerprints(set, snap, cluster) {
		b, err := eng.Meta().GetMeta(metaKey(cluster, fp))
		if err != nil {
			return nil, nil, fmt.Errorf("read sealing key %s of cluster %q: %w", fp, cluster, err)
		}
		if b == nil {
			return nil, nil, fmt.Errorf("%s/seal-key: AMP holds no sealing key %s for cluster %q (a fingerprint can only be removed, not added)", EntryPath(set, cluster), fp, cluster)
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, nil, fmt.Errorf("sealing key %s of cluster %q in the store's metadata: %w", fp, cluster, err)
		}
		pairs = append(pairs, pair{Key{Fingerprint: fp, Cert: []byte(r.Cert), Created: r.Created}, r})
	}
	sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].key.Created.After(pairs[j].key.Created) })
	keys, recs := make([]Key, len(pairs)), make([]record, len(pairs))
	for i, p := range pairs {
		keys[i], recs[i] = p.key, p.rec
	}
	return keys, recs, nil
}

// Keys are the cluster's listed keys as of snap, newest (active) first.
func (k *Keyring) Keys(snap *config.Snapshot, cluster string) ([]Key, error) {
	keys, _, err := load(k.Eng, Set(k.Eng.Schema()), snap, cluster)
	return keys, err
}

// PrivateKeys are the PEM private keys of the cluster's listed keys as of
// snap, newest first: what its agent gets, and nobody else.
func PrivateKeys(eng *config.Engine, snap *config.Snapshot, cluster string) ([]string, error) {
	_, recs, err := load(eng, Set(eng.Schema()), snap, cluster)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Key
	}
	return out, nil
}

// Active is the cluster's active key; a cluster without keys gets its
// first one.
func (k *Keyring) Active(ctx context.Context, cluster string) (Key, error) {
	keys, err := k.Keys(k.Eng.Snapshot(), cluster)
	if err != nil {
		return Key{}, err
	}
	if len(keys) > 0 {
		return keys[0], nil
	}
	return k.renew(ctx, cluster, "first key", func(keys []Key) bool { return len(keys) == 0 })
}

// Renew gives the cluster a new active key, keeping the others.
func (k *Keyring) Renew(ctx context.Context, cluster, why string) (Key, error) {
	return k.renew(ctx, cluster, why, func([]Key) bool { return true })
}

// renew generates a key when need holds for the cluster's keys (read
// again under the lock: two callers racing make one key), stores it in
// the metadata, then lists it in the configuration.
func (k *Keyring) renew(ctx context.Context, cluster, why string, need func([]Key) bool) (Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	set := Set(k.Eng.Schema())
	if set == nil {
		return Key{}, errors.New("the fleet model set is not loaded: it lists the sealing keys")
	}
	keys, err := k.Keys(k.Eng.Snapshot(), cluster)
	if err != nil {
		return Key{}, err
	}
	if !need(keys) {
		return keys[0], nil
	}
	bits := k.Bits
	if bits == 0 {
		bits = Bits
	}
	now := k.now().UTC()
	rec, fp, err := generate(bits, now)
	if err != nil {
		return Key{}, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return Key{}, err
	}
	if err := k.Eng.Meta().PutMeta(metaKey(cluster, fp), b); err != nil {
		return Key{}, fmt.Errorf("store the sealing key: %w", err)
	}
	fps := []any{fp}
	for _, o := range keys {
		fps = append(fps, o.Fingerprint)
	}
	if err := k.commit(ctx, set, cluster, fps, why); err != nil {
		return Key{}, err
	}
	if k.Log != nil {
		k.Log.Info("sealing key created", "cluster", cluster, "fingerprint", fp, "why", why, "keys", len(fps))
	}
	return Key{Fingerprint: fp, Cert: []byte(rec.Cert), Created: now}, nil
}

// commit lists fps as the cluster's keys (a merge: its sealed secrets
// stay), creating its sealing entry with the first.
func (k *Keyring) commit(ctx context.Context, set *schema.ModelSet, cluster string, fps []any, why string) error {
	route, err := k.Eng.Schema().ParseRoute(EntryPath(set, cluster))
	if err != nil {
		return err
	}
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	val, err := schema.DecodeJSON(loc.Node, map[string]any{"cluster": cluster, "seal-key": fps}, loc.REST(), true, schema.DecodeOptions{})
	if err != nil {
		return err
	}
	_, err = component.Submit(ctx, k.Eng, &config.Request{
		Edits:     []config.Edit{{Op: config.OpMerge, Loc: loc, Value: val}},
		Principal: "amp", Source: "seal",
		Message: fmt.Sprintf("sealing key for cluster %s: %s", cluster, why),
	})
	return err
}

// generate makes a key pair and its self-signed certificate (CN and O
// "sealed-secret", as the controller's).
func generate(bits int, now time.Time) (record, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return record{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return record{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sealed-secret", Organization: []string{"sealed-secret"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return record{}, "", err
	}
	return record{
		Cert:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:     string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		Created: now,
	}, seal.Fingerprint(&key.PublicKey), nil
}

// Clusters lists the clusters with a sealing entry in snap.
func Clusters(set *schema.ModelSet, snap *config.Snapshot) []string {
	if set == nil {
		return nil
	}
	prefix := schema.RootKey(set, "") + "/sealing/"
	var out []string
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for key, _, ok := it.Next(); ok; key, _, ok = it.Next() {
		seg := string(key[len(prefix):])
		if strings.Contains(seg, "/") {
			continue
		}
		if id, err := schema.UnescapeSegment(seg); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// RenewDue gives a new active key to every cluster whose active key is
// RenewAfter old, returning the clusters renewed.
func (k *Keyring) RenewDue(ctx context.Context) ([]string, error) {
	snap := k.Eng.Snapshot()
	var renewed []string
	var errs []error
	for _, c := range Clusters(Set(k.Eng.Schema()), snap) {
		keys, err := k.Keys(snap, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(keys) == 0 || k.now().Sub(keys[0].Created) < RenewAfter {
			continue
		}
		_, err = k.renew(ctx, c, "renewal every 30 days", func(cur []Key) bool {
			return len(cur) > 0 && k.now().Sub(cur[0].Created) >= RenewAfter
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		renewed = append(renewed, c)
	}
	return renewed, errors.Join(errs...)
}

// checkEvery is how often Run looks for keys due.
const checkEvery = time.Hour

// Run renews the keys due now and then every hour, until ctx ends.
func (k *Keyring) Run(ctx context.Context) error {
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		if _, err := k.RenewDue(ctx); err != nil && ctx.Err() == nil && k.Log != nil {
			k.Log.Error("sealing key renewal failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
