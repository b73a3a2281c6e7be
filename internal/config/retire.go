package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/tenant"
)

// Retirement records that an enterprise id was deleted. Ids are retired
// for good rather than given a generation: the old tenant's transactions,
// audit records, shipped audit logs and backups all name it by its id
// alone, and outlive any retention limit, so a new tenant under the same id
// would be indistinguishable from the old one in them (docs/identity.md).
type Retirement struct {
	Index uint64    `json:"index"` // the transaction that deleted it
	Time  time.Time `json:"time"`
}

// retiredMetaPrefix keys retirements in the store's metadata, shared by
// every replica of a shared store.
const retiredMetaPrefix = "retired-enterprise/"

// Retired reports whether id belonged to a deleted enterprise, and when it
// was deleted. An id is retired when its record exists and no enterprise
// of that id does (the record is written just before the deletion
// commits, so a deletion that failed leaves a record that retires nothing).
// A store error counts as retired: the answer guards creation and token
// use, which must fail closed.
func (e *Engine) Retired(id string) (Retirement, bool) {
	if e.Snapshot().TargetExists(id) {
		return Retirement{}, false
	}
	return e.retirement(id)
}

func (e *Engine) retirement(id string) (Retirement, bool) {
	b, err := e.store.GetMeta(retiredMetaPrefix + id)
	if err != nil {
		return Retirement{}, true
	}
	if b == nil {
		return Retirement{}, false
	}
	var r Retirement
	_ = json.Unmarshal(b, &r) // a damaged record still retires the id
	return r, true
}

// deletedTargets returns the enterprise ids a staged transaction deletes.
func (s staged) deletedTargets() []string {
	var out []string
	for _, c := range s.rec.Changes {
		if name, ok := strings.CutPrefix(c.Key, targetPrefix); ok && c.Before != nil && c.After == nil {
			out = append(out, name)
		}
	}
	return out
}

// retire records the enterprises a batch deletes, before the batch is
// committed: after a crash in between, the record names an enterprise that
// still exists, which retires nothing (Retired); the other order could let
// a deleted id be created again.
func (e *Engine) retire(batch []staged) error {
	for _, s := range batch {
		for _, id := range s.deletedTargets() {
			b, err := json.Marshal(Retirement{Index: s.rec.Index, Time: s.rec.Time})
			if err != nil {
				return err
			}
			if err := e.store.PutMeta(retiredMetaPrefix+id, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// warnReservedTargets names the enterprises created before their ids were
// reserved (tenant.Reserved): for them the book's group names stay
// ambiguous ("acme-admin" is read as the admins of acme, never as the
// members of enterprise acme-admin), so the operator must act.
func (e *Engine) warnReservedTargets(s *Snapshot) {
	for _, o := range s.Targets() {
		id := strings.TrimPrefix(o.Key, targetPrefix)
		if why := tenant.Reserved(id); why != "" {
			e.log.Warn("an enterprise has an id that is now reserved: the book's group names cannot name its members; "+
				"give them structured groups (amp:enterprise-member:<id>, amp:enterprise-admin:<id>) and run with --oidc-book-groups=false",
				"enterprise", id, "rule", why)
		}
	}
}

// historyScannedMeta marks a store whose retained history has been
// searched for deletions made before ids were retired.
const historyScannedMeta = "retired-enterprise-history-scanned"

// retireFromHistory retires, once per store, the ids of enterprises that
// an earlier version deleted, as far as the retained history tells: the
// upgrade must not leave their history open to a new tenant. Only records
// that touch a target are decoded.
func (e *Engine) retireFromHistory() error {
	if b, err := e.store.GetMeta(historyScannedMeta); err != nil || b != nil {
		return err
	}
	first, last := e.store.FirstIndex(), e.store.LastIndex()
	found := 0
	if first <= last {
		err := e.store.Log(first, last, false, func(_ uint64, raw []byte) error {
			if !bytes.Contains(raw, []byte(targetPrefix)) {
				return nil
			}
			r, err := decodeRecordHeader(raw)
			if err != nil {
				return err
			}
			for _, id := range (staged{rec: r}).deletedTargets() {
				if _, done := e.retirement(id); done {
					continue
				}
				b, err := json.Marshal(Retirement{Index: r.Index, Time: r.Time})
				if err != nil {
					return err
				}
				if err := e.store.PutMeta(retiredMetaPrefix+id, b); err != nil {
					return err
				}
				found++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if found > 0 {
		e.log.Info("retired the ids of enterprises deleted before ids were retired", "enterprises", found)
	}
	return e.store.PutMeta(historyScannedMeta, []byte(time.Now().UTC().Format(time.RFC3339)))
}
