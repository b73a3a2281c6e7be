package config

import (
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
