package sealkeys

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/seal"
)

// The sealed-secret kind of desired state: one object per sealed-secret
// entry of a cluster's sealing entry, carrying the SealedSecret and the
// cluster's private keys (only that cluster's: the link answers an agent
// about its own cluster alone). A manifest that is not a SealedSecret is
// refused at commit.
func init() {
	edge.RegisterSource(source{})
	config.RegisterRule(SetName, config.Rule{Name: "fleet-sealed-secret", Check: checkManifests})
}

// engines maps each engine's schema to the engine, for the source, which
// is handed the schema and a snapshot but reads the keys from the store's
// metadata. Bind registers an engine (amp serve, when it builds its
// services).
var engines sync.Map // *schema.Schema → *config.Engine

// Bind lets the sealed-secret source of eng's schema read eng's keys.
func Bind(eng *config.Engine) { engines.Store(eng.Schema(), eng) }

// ParseManifest reads a SealedSecret written as JSON or YAML and checks
// it (seal.SealedSecret.Check), naming the field.
func ParseManifest(text string) (*seal.SealedSecret, error) {
	b, err := yaml.YAMLToJSON([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %v", err)
	}
	var ss seal.SealedSecret
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&ss); err != nil {
		return nil, fmt.Errorf("not a SealedSecret: %v", err)
	}
	if err := ss.Check(); err != nil {
		return nil, err
	}
	return &ss, nil
}

// secretOf returns the cluster and secret id of a sealed-secret entry's
// storage key ("fleet/1.0.0/sealing/ace-x/sealed-secret/db"), or of a
// cluster entry (secret ""); ok false for any other key.
func secretOf(sch *schema.Schema, key string) (cluster, secret string, ok bool) {
	set := Set(sch)
	if set == nil {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(key, schema.RootKey(set, "")+"/sealing/")
	if !ok {
		return "", "", false
	}
	segs := strings.Split(rest, "/")
	c, err := schema.UnescapeSegment(segs[0])
	if err != nil {
		return "", "", false
	}
	switch {
	case len(segs) == 1:
		return c, "", true
	case len(segs) == 3 && segs[1] == "sealed-secret":
		s, err := schema.UnescapeSegment(segs[2])
		return c, s, err == nil
	}
	return "", "", false
}

// checkManifests refuses a sealed-secret whose manifest is not a
// SealedSecret, at its manifest, with the field and why; and a seal-key
// fingerprint added that names no key AMP holds for the cluster (keys
// are made by AMP, which stores the key before it lists it).
func checkManifests(tx *config.Snapshot, changes []config.ObjectChange, report config.Report) {
	for _, c := range changes {
		if c.After == nil {
			continue
		}
		cluster, secret, ok := secretOf(tx.Schema(), c.Key)
		if !ok {
			continue
		}
		if secret == "" {
			checkFingerprints(tx, c, cluster, report)
			continue
		}
		text, _ := c.After.Data["manifest"].(string)
		if _, err := ParseManifest(text); err != nil {
			report(false, EntryPath(Set(tx.Schema()), cluster)+"/sealed-secret/"+schema.EscapeSegment(secret)+"/manifest", err.Error())
		}
	}
}

// checkFingerprints refuses the fingerprints a change adds to a sealing
// entry that name no key in the store's metadata: the agent would get no
// key for them, and the cluster's desired state could not be built.
func checkFingerprints(tx *config.Snapshot, c config.ObjectChange, cluster string, report config.Report) {
	v, bound := engines.Load(tx.Schema())
	if !bound {
		return // no server: nothing holds keys (tests of the model alone)
	}
	set := Set(tx.Schema())
	had := map[string]bool{}
	if c.Before != nil {
		for _, fp := range fingerprintsOf(c.Before) {
			had[fp] = true
		}
	}
	for _, fp := range fingerprintsOf(c.After) {
		if had[fp] {
			continue
		}
		if b, err := v.(*config.Engine).Meta().GetMeta(metaKey(cluster, fp)); err == nil && b == nil {
			report(false, EntryPath(set, cluster)+"/seal-key", fmt.Sprintf("AMP holds no sealing key %s for cluster %q: keys are made by AMP (GET /clusters/%s/seal-key, POST …/seal-key/renew), a fingerprint can only be removed", fp, cluster, cluster))
		}
	}
}

type source struct{}

func (source) Kind() string { return seal.KindSealedSecret }

// Affects: a cluster's sealing entry (its keys) and its sealed secrets
// affect that cluster only; no operational state does.
func (source) Affects(sch *schema.Schema, _ *config.Snapshot, ch edge.Change) []string {
	if ch.State {
		return nil
	}
	if c, _, ok := secretOf(sch, ch.Key); ok {
		return []string{c}
	}
	return nil
}

// Objects are the cluster's sealed secrets, each with the cluster's keys
// as listed in snap.
func (source) Objects(sch *schema.Schema, snap *config.Snapshot, cluster string) ([]wire.Object, error) {
	set := Set(sch)
	if set == nil {
		return nil, nil
	}
	entry, ok := snap.Get(EntryKey(set, cluster))
	if !ok {
		return nil, nil
	}
	prefix := entry.Key + "/sealed-secret/"
	var out []wire.Object
	var keys []string
	it := snap.Objects.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, o, more := it.Next(); more; k, o, more = it.Next() {
		name, err := schema.UnescapeSegment(string(k[len(prefix):]))
		if err != nil || strings.Contains(name, "/") {
			continue
		}
		if keys == nil {
			v, bound := engines.Load(sch)
			if !bound {
				return nil, fmt.Errorf("the sealing keys of cluster %q cannot be read: no engine bound (sealkeys.Bind)", cluster)
			}
			if keys, err = PrivateKeys(v.(*config.Engine), snap, cluster); err != nil {
				return nil, err
			}
		}
		text, _ := o.Data["manifest"].(string)
		ss, err := ParseManifest(text)
		if err != nil {
			return nil, fmt.Errorf("sealed-secret %q of cluster %q: manifest: %v", name, cluster, err)
		}
		spec, err := json.Marshal(seal.ObjectSpec{SealedSecret: *ss, Keys: keys})
		if err != nil {
			return nil, err
		}
		out = append(out, wire.Object{Kind: seal.KindSealedSecret, Name: name, Spec: spec, Index: max(o.Modified, entry.Modified)})
	}
	return out, nil
}
