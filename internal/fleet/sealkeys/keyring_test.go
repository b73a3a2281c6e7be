package sealkeys

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/seal"
	"github.com/amp-edge/amp/internal/testenv"
)

// put writes value at the REST path as a PUT does.
func put(eng *config.Engine, path string, value map[string]any) error {
	return write(eng, config.OpReplace, path, value)
}

// write writes value at the REST path with op.
func write(eng *config.Engine, op config.Op, path string, value map[string]any) error {
	route, err := eng.Schema().ParseRoute(path)
	if err != nil {
		return err
	}
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	val, err := schema.DecodeJSON(loc.Node, value, loc.REST(), true, schema.DecodeOptions{})
	if err != nil {
		return err
	}
	_, err = eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: op, Loc: loc, Value: val}}, Principal: "test", Source: "api"})
	return err
}

// sealFor seals {password: value} as apps/name for key.
func sealFor(t *testing.T, k Key, name, value string) string {
	t.Helper()
	pub, err := seal.PublicKeyFromPEM(k.Cert)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := seal.Seal(rand.Reader, pub, &seal.Secret{Metadata: seal.ObjectMeta{Name: name, Namespace: "apps"}, StringData: map[string]string{"password": value}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ss)
	return string(b)
}

// objects are the cluster's sealed-secret objects, each unsealed with the
// keys it carries: name → password (or the error).
func objects(t *testing.T, eng *config.Engine, cluster string) (map[string]string, int) {
	t.Helper()
	objs, err := source{}.Objects(eng.Schema(), eng.Snapshot(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	nkeys := 0
	for _, o := range objs {
		var spec seal.ObjectSpec
		if err := json.Unmarshal(o.Spec, &spec); err != nil {
			t.Fatal(err)
		}
		keys, err := seal.PrivateKeysFromPEM(spec.Keys)
		if err != nil {
			t.Fatal(err)
		}
		nkeys = len(keys)
		s, err := spec.SealedSecret.Unseal(keys)
		if err != nil {
			out[o.Name] = err.Error()
			continue
		}
		out[o.Name] = string(s.Data["password"])
	}
	return out, nkeys
}

// TestKeysRenewAndKeepUnsealing: the first key made on demand, no new key
// before 30 days, one at 30 days (active: it seals), the old one still
// unsealing what it sealed; the agent's objects carry the cluster's keys
// only; a manifest that is not a SealedSecret is refused at commit.
func TestKeysRenewAndKeepUnsealing(t *testing.T) {
	ctx := context.Background()
	eng, _ := testenv.Engine(t, false)
	Bind(eng)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	kr := &Keyring{Eng: eng, Now: func() time.Time { return now }, Bits: 1024}
	set := Set(eng.Schema())

	k1, err := kr.Active(ctx, "edge-a")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := kr.Active(ctx, "edge-a"); again.Fingerprint != k1.Fingerprint {
		t.Fatalf("a second request made another key: %s, then %s", k1.Fingerprint, again.Fingerprint)
	}
	other, err := kr.Active(ctx, "edge-b")
	if err != nil || other.Fingerprint == k1.Fingerprint {
		t.Fatalf("edge-b's key: %v %s", err, other.Fingerprint)
	}
	if got := Fingerprints(set, eng.Snapshot(), "edge-a"); len(got) != 1 || got[0] != k1.Fingerprint {
		t.Fatalf("configuration lists %v", got)
	}
	entry, _ := eng.Snapshot().Get(EntryKey(set, "edge-a"))
	if b, _ := json.Marshal(entry.Data); strings.Contains(string(b), "PRIVATE KEY") {
		t.Fatalf("a private key in the configuration: %s", b)
	}

	base := EntryPath(set, "edge-a") + "/sealed-secret/"
	if err := put(eng, base+"db", map[string]any{"secret-id": "db", "manifest": sealFor(t, k1, "db", "one")}); err != nil {
		t.Fatal(err)
	}
	err = put(eng, base+"bad", map[string]any{"secret-id": "bad", "manifest": "apiVersion: v1\nkind: Secret\n"})
	if err == nil || !strings.Contains(err.Error(), base+"bad/manifest") || !strings.Contains(err.Error(), "apiVersion") {
		t.Fatalf("a Secret in clear declared as a sealed secret: %v", err)
	}
	if got, n := objects(t, eng, "edge-a"); got["db"] != "one" || n != 1 || len(got) != 1 {
		t.Fatalf("edge-a's objects: %v with %d keys", got, n)
	}
	if got, _ := objects(t, eng, "edge-b"); len(got) != 0 {
		t.Fatalf("edge-b got edge-a's sealed secrets: %v", got)
	}
	if got := (source{}).Affects(eng.Schema(), eng.Snapshot(), edge.Change{Key: EntryKey(set, "edge-a") + "/sealed-secret/db"}); len(got) != 1 || got[0] != "edge-a" {
		t.Fatalf("Affects: %v", got)
	}

	now = now.Add(RenewAfter - time.Minute)
	if renewed, err := kr.RenewDue(ctx); err != nil || len(renewed) != 0 {
		t.Fatalf("before 30 days: renewed %v, %v", renewed, err)
	}
	now = now.Add(time.Minute)
	renewed, err := kr.RenewDue(ctx)
	if err != nil || strings.Join(renewed, ",") != "edge-a,edge-b" {
		t.Fatalf("at 30 days: renewed %v, %v", renewed, err)
	}
	k2, err := kr.Active(ctx, "edge-a")
	if err != nil || k2.Fingerprint == k1.Fingerprint || !k2.Created.Equal(now) {
		t.Fatalf("the active key after renewal: %+v %v", k2, err)
	}
	if err := put(eng, base+"db2", map[string]any{"secret-id": "db2", "manifest": sealFor(t, k2, "db2", "two")}); err != nil {
		t.Fatal(err)
	}
	if got, n := objects(t, eng, "edge-a"); got["db"] != "one" || got["db2"] != "two" || n != 2 {
		t.Fatalf("after renewal: %v with %d keys (the old key must keep unsealing)", got, n)
	}
	keys, _ := kr.Keys(eng.Snapshot(), "edge-a")
	if len(keys) != 2 || keys[0].Fingerprint != k2.Fingerprint {
		t.Fatalf("keys newest first: %+v", keys)
	}

	// A fingerprint AMP holds no key for is refused; removing one (a
	// merge: a PUT of the entry would replace its sealed secrets too)
	// retires that key: what it sealed no longer opens.
	entryPath := EntryPath(set, "edge-a")
	bogus := strings.Repeat("ab", 32)
	if err := put(eng, entryPath, map[string]any{"cluster": "edge-a", "seal-key": []any{k2.Fingerprint, k1.Fingerprint, bogus}}); err == nil || !strings.Contains(err.Error(), entryPath+"/seal-key") || !strings.Contains(err.Error(), bogus) {
		t.Fatalf("an unknown fingerprint: %v", err)
	}
	if err := write(eng, config.OpMerge, entryPath, map[string]any{"cluster": "edge-a", "seal-key": []any{k2.Fingerprint}}); err != nil {
		t.Fatal(err)
	}
	if got, n := objects(t, eng, "edge-a"); !strings.Contains(got["db"], "no key of this cluster") || got["db2"] != "two" || n != 1 {
		t.Fatalf("after retiring the old key: %v with %d keys", got, n)
	}
}
