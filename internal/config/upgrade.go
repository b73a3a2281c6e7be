package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// Stores written before storage keys carried the model-set version.
//
// The release before model-set descriptors wrote "net/acme/site/s1";
// keys now read "net/2.0.x/acme/site/s1". A key of the old form is told
// apart by its second segment: a tenant id starts with a letter, a version
// with a digit (a global set's keys have no tenant and always carry their
// version). That release had one version of each set, so the version put
// in is that of the loaded set of the name (the newest, if several are
// loaded: Schema.Set).
//
// Open upgrades such a store in place before it loads it:
//
//   - the checkpoint's objects move to their new keys in batches, each batch
//     put under the new keys first and deleted under the old ones after, so
//     that a crash (kill -9) at any point leaves every object under its old
//     key, its new one or both, with the same value: the next start moves
//     what is left and nothing is lost or doubled;
//   - so does the operational state a shared store keeps per object key;
//   - keysVersionedMeta is written last, and a store that holds it is not
//     scanned again.
//
// Log records are not rewritten: decodeRecordKeys translates their keys
// whenever a record is read (start-up replay, history, diff, rollback,
// point-in-time reads, watches, backups). The log is append-only: replicas
// read it concurrently, backups carry it byte for byte under a signature,
// and bbolt's WAL holds the newest records in checksummed segments.
// Rewriting it would also make the first start as long as the history;
// translating costs one byte test per key.

// keysVersionedMeta marks a store whose keys all carry the set version.
const keysVersionedMeta = "store-keys-versioned"

// upgradeBatch is how many keys move per store write; a variable so tests
// can cut a small store's upgrade into many writes.
var upgradeBatch = 10_000

// upgradeKey returns the current form of a key the previous release wrote,
// and false for a key that needs no translation.
func upgradeKey(sch *schema.Schema, key string) (string, bool, error) {
	if reservedKey(key) {
		return key, false, nil
	}
	name, rest, ok := strings.Cut(key, "/")
	if !ok || rest == "" || rest[0] >= '0' && rest[0] <= '9' {
		return key, false, nil
	}
	set := sch.Set(name, "")
	switch {
	case set == nil:
		return "", true, fmt.Errorf("key %s was written by a release before model-set versions for model set %q, which is not loaded: start with the models the store was written with (--models)", key, name)
	case set.Global():
		return "", true, fmt.Errorf("key %s was written by a release before model-set versions for tenant %q of model set %q, but the loaded %s %s is global (its keys have no tenant)", key, strings.SplitN(rest, "/", 2)[0], name, name, set.Version)
	}
	return name + "/" + set.Version + "/" + rest, true, nil
}

// decodeRecordKeys is decodeRecordHeader with every object key in the
// current form.
func decodeRecordKeys(sch *schema.Schema, b []byte) (*Record, error) {
	r, err := decodeRecordHeader(b)
	if err != nil {
		return nil, err
	}
	for i := range r.Changes {
		c := &r.Changes[i]
		key, legacy, err := upgradeKey(sch, c.Key)
		if err != nil {
			return nil, fmt.Errorf("log record %d: %w", r.Index, err)
		}
		if !legacy {
			continue
		}
		c.Key = key
		for _, o := range []*Object{c.Before, c.After} {
			if o != nil {
				o.Key = key
			}
		}
	}
	return r, nil
}

// moved is one stored entry to move from its old key to its new one.
type moved struct {
	from, to string
	value    []byte
}

// legacyEntries lists the entries scan yields under keys of the old form.
func legacyEntries(sch *schema.Schema, scan func(fn func(key string, value []byte) error) error) ([]moved, error) {
	var out []moved
	err := scan(func(key string, value []byte) error {
		to, legacy, err := upgradeKey(sch, key)
		if err != nil || !legacy {
			return err
		}
		// bbolt's values live only as long as its read transaction.
		out = append(out, moved{from: key, to: to, value: append([]byte(nil), value...)})
		return nil
	})
	return out, err
}

// upgradeStore moves the store's entries keyed by the previous release's
// object keys to the current keys (see above), unless it has done so.
func (e *Engine) upgradeStore() error {
	if b, err := e.store.GetMeta(keysVersionedMeta); err != nil {
		return fmt.Errorf("store upgrade: read metadata %s: %w", keysVersionedMeta, err)
	} else if b != nil {
		return nil
	}
	start := time.Now()
	objs, err := legacyEntries(e.schema, e.store.Objects)
	if err != nil {
		return fmt.Errorf("store upgrade: objects: %w", err)
	}
	var states []moved
	if e.shared != nil {
		if states, err = legacyEntries(e.schema, e.shared.States); err != nil {
			return fmt.Errorf("store upgrade: operational state: %w", err)
		}
	}
	if len(objs)+len(states) > 0 {
		e.log.Info("upgrading a store written before storage keys carried the model-set version", "objects", len(objs), "states", len(states))
	}
	for i := 0; i < len(objs); i += upgradeBatch {
		batch := objs[i:min(i+upgradeBatch, len(objs))]
		puts := make([]store.KV, len(batch))
		from := make([]string, len(batch))
		for j, m := range batch {
			puts[j], from[j] = store.KV{Key: m.to, Value: m.value}, m.from
		}
		// Two writes, puts first: a store may split one write (etcd's txn
		// limits), and an object must never be under neither key.
		if err := e.store.WriteObjects(puts, nil); err != nil {
			return fmt.Errorf("store upgrade: write objects %s-%s: %w", puts[0].Key, puts[len(puts)-1].Key, err)
		}
		if err := e.store.WriteObjects(nil, from); err != nil {
			return fmt.Errorf("store upgrade: delete objects %s-%s: %w", from[0], from[len(from)-1], err)
		}
		e.m.upgraded.WithLabelValues("object").Add(float64(len(batch)))
		e.log.Info("store upgrade progress", "objects", i+len(batch), "of", len(objs))
	}
	for i := 0; i < len(states); i += upgradeBatch {
		batch := states[i:min(i+upgradeBatch, len(states))]
		from := make([]string, len(batch))
		for j, m := range batch {
			if _, err := e.shared.PutState(m.to, m.value); err != nil {
				return fmt.Errorf("store upgrade: %w", err)
			}
			from[j] = m.from
		}
		if _, err := e.shared.DeleteStates(from); err != nil {
			return fmt.Errorf("store upgrade: %w", err)
		}
		e.m.upgraded.WithLabelValues("state").Add(float64(len(batch)))
	}
	if err := e.store.PutMeta(keysVersionedMeta, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("store upgrade: write metadata %s: %w", keysVersionedMeta, err)
	}
	if len(objs)+len(states) > 0 {
		e.log.Info("store upgraded: every key carries its model-set version", "objects", len(objs), "states", len(states), "duration", time.Since(start).String())
	}
	return nil
}
