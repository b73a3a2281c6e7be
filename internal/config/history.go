package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	iradix "github.com/hashicorp/go-immutable-radix/v2"

	"go.opentelemetry.io/otel/trace"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// Record is one committed transaction as the log keeps it: who, when, from
// where, and the full before and after image of every object it changed.
// Before images make rollback, diff and point-in-time reads possible.
type Record struct {
	Index      uint64
	ID         string
	Time       time.Time
	Principal  string
	Groups     []string // the principal's groups (see Request.Groups)
	Address    string   // the caller's network address
	Source     string
	Message    string
	RollbackOf uint64
	// Replica names the AMP replica that committed it (empty on the
	// embedded store, where there is one).
	Replica string
	Changes []ObjectChange
	// Span is the trace span of the request that committed the
	// transaction (live watch deliveries only; not stored), so controllers
	// can continue its trace down to the backend push.
	Span trace.SpanContext
}

// ObjectChange is one object's before and after (nil = absent).
type ObjectChange struct {
	Key    string
	Before *Object
	After  *Object
}

// Change is one leaf-level (or whole-object) change, as APIs show it.
type Change struct {
	Path string `json:"path"`
	Op   string `json:"op"` // create, update, delete
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

func encodeRecord(r *Record) []byte {
	changes := make([]any, len(r.Changes))
	for i, c := range r.Changes {
		m := map[string]any{"key": c.Key}
		if c.Before != nil {
			m["before"] = string(encodeObject(c.Before))
		}
		if c.After != nil {
			m["after"] = string(encodeObject(c.After))
		}
		changes[i] = m
	}
	m := map[string]any{
		"index": r.Index, "id": r.ID, "time": r.Time.UnixNano(), "principal": r.Principal,
		"source": r.Source, "message": r.Message, "rollback-of": r.RollbackOf, "changes": changes,
	}
	if r.Replica != "" {
		m["replica"] = r.Replica
	}
	if len(r.Groups) > 0 {
		groups := make([]any, len(r.Groups))
		for i, g := range r.Groups {
			groups[i] = g
		}
		m["groups"] = groups
	}
	if r.Address != "" {
		m["address"] = r.Address
	}
	return appendMap(nil, m)
}

// LostRecord is the log record of a transaction that amp repair-wal had to
// discard: it changes nothing and says so, and it keeps the index taken, so
// the index is never given to another transaction.
func LostRecord(index uint64, at time.Time, note string) []byte {
	return encodeRecord(&Record{Index: index, ID: fmt.Sprintf("lost:%d", index), Time: at, Principal: "amp repair-wal", Source: "amp repair-wal", Message: note})
}

func decodeRecordHeader(b []byte) (*Record, error) {
	m, changes, err := readRecordMap(&reader{b: b})
	if err != nil {
		return nil, fmt.Errorf("decode log record: %w", err)
	}
	r := &Record{}
	r.Index, _ = m["index"].(uint64)
	r.ID, _ = m["id"].(string)
	ns, _ := m["time"].(int64)
	r.Time = time.Unix(0, ns).UTC()
	r.Principal, _ = m["principal"].(string)
	r.Source, _ = m["source"].(string)
	r.Message, _ = m["message"].(string)
	r.RollbackOf, _ = m["rollback-of"].(uint64)
	r.Replica, _ = m["replica"].(string)
	r.Address, _ = m["address"].(string)
	if gs, ok := m["groups"].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				r.Groups = append(r.Groups, s)
			}
		}
	}
	if changes != nil {
		r.Changes = make([]ObjectChange, len(changes))
		for i, c := range changes {
			r.Changes[i].Key = c.key
			// Keep the raw images; decodeRecord turns them into objects.
			if c.before != nil {
				r.Changes[i].Before = &Object{Key: c.key, Data: map[string]any{"\x00raw": string(c.before)}}
			}
			if c.after != nil {
				r.Changes[i].After = &Object{Key: c.key, Data: map[string]any{"\x00raw": string(c.after)}}
			}
		}
	}
	return r, nil
}

// recordChanges reads what a restore's check needs of a record, accepting
// what decodeRecordHeader accepts: its index and its changes, the images
// left encoded, in b.
func recordChanges(b []byte) (uint64, []rawChange, error) {
	m, changes, err := readRecordMap(&reader{b: b})
	if err != nil {
		return 0, nil, fmt.Errorf("decode log record: %w", err)
	}
	index, _ := m["index"].(uint64)
	return index, changes, nil
}

// rawChange is one change of a record as encoded: its images are slices
// of the record (nil: absent; an empty image is an empty, non-nil slice).
type rawChange struct {
	key           string
	before, after []byte
}

// readRecordMap is readMap for a log record, except that a "changes" list
// is read into rawChanges, without a map per change nor a copy of its
// images: a bulk import's record holds one change per object, and
// building those maps was most of decoding it. It accepts and keeps what
// readMap would (the last entry of a name wins); the changes are nil
// unless the last "changes" entry is a list.
func readRecordMap(r *reader) (map[string]any, []rawChange, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.b)) {
		return nil, nil, errCorrupt
	}
	m := make(map[string]any, n)
	var changes []rawChange
	for range n {
		k, err := r.str()
		if err != nil {
			return nil, nil, err
		}
		if k == "changes" && r.next(tagList) {
			if changes, err = r.readChanges(); err != nil {
				return nil, nil, err
			}
			continue
		}
		v, err := r.readValue()
		if err != nil {
			return nil, nil, err
		}
		if k == "changes" {
			changes = nil
		}
		m[k] = v
	}
	return m, changes, nil
}

// readChanges reads the list of a record's changes (its tag read): each
// is a map of key, before and after. An entry that is not such a map, or
// a name whose value is not a string, reads as absent (a change with no
// key, which decodeRecord refuses).
func (r *reader) readChanges() ([]rawChange, error) {
	n, err := r.uvarint()
	if err != nil || n > uint64(len(r.b)) {
		return nil, errCorrupt
	}
	// Grown as read: a corrupt count does not allocate up front.
	out := make([]rawChange, 0, min(n, 1<<12))
	for range n {
		out = append(out, rawChange{})
		if !r.next(tagMap) {
			if _, err := r.readValue(); err != nil {
				return nil, err
			}
			continue
		}
		fields, err := r.uvarint()
		if err != nil || fields > uint64(len(r.b)) {
			return nil, errCorrupt
		}
		c := &out[len(out)-1]
		for range fields {
			name, err := r.bytes()
			if err != nil {
				return nil, err
			}
			var s []byte
			if r.next(tagString) {
				if s, err = r.bytes(); err != nil {
					return nil, err
				}
			} else if _, err := r.readValue(); err != nil {
				return nil, err
			}
			switch string(name) {
			case "key":
				c.key = string(s)
			case "before":
				c.before = s
			case "after":
				c.after = s
			}
		}
	}
	return out, nil
}

func (e *Engine) decodeRecord(b []byte) (*Record, error) { return decodeRecord(e.schema, b) }

func decodeRecord(sch *schema.Schema, b []byte) (*Record, error) {
	r, err := decodeRecordKeys(sch, b)
	if err != nil {
		return nil, err
	}
	for i := range r.Changes {
		c := &r.Changes[i]
		var node *schema.Node
		if !reservedKey(c.Key) {
			loc, err := sch.ParseObjectKey(c.Key)
			if err != nil {
				return nil, fmt.Errorf("log record %d: %w", r.Index, err)
			}
			node = loc.Node
		}
		for _, p := range []**Object{&c.Before, &c.After} {
			if *p == nil {
				continue
			}
			raw := (*p).Data["\x00raw"].(string)
			o, err := decodeObject(c.Key, node, []byte(raw))
			if err != nil {
				return nil, err
			}
			*p = o
		}
	}
	return r, nil
}

// objectPath is the API path of an object key.
func objectPath(o *Object) string {
	if m, ok := strings.CutPrefix(o.Key, migratedPrefix); ok {
		return "/models/" + m // lab/1.0.0: that version was migrated
	}
	if o.Node == nil {
		return "/enterprises/" + strings.TrimPrefix(o.Key, targetPrefix)
	}
	return restPath(o, nil)
}

func encodeData(o *Object) any {
	if o.Node == nil {
		return o.Data
	}
	return schema.Encode(o.Node, o.Data, schema.EncodeOptions{})
}

// Changes renders a record's object changes as leaf-level changes.
func (e *Engine) Changes(r *Record) []Change {
	var out []Change
	for _, c := range r.Changes {
		switch {
		case c.Before == nil:
			out = append(out, Change{Path: objectPath(c.After), Op: "create", New: encodeData(c.After)})
		case c.After == nil:
			out = append(out, Change{Path: objectPath(c.Before), Op: "delete", Old: encodeData(c.Before)})
		default:
			base := objectPath(c.After)
			diffData(c.After.Node, c.Before.Data, c.After.Data, nil, func(inner []string, n *schema.Node, old, new any, hadOld, hasNew bool) {
				ch := Change{Path: base + "/" + strings.Join(inner, "/")}
				switch {
				case !hadOld:
					ch.Op = "create"
				case !hasNew:
					ch.Op = "delete"
				default:
					ch.Op = "update"
				}
				if hadOld {
					ch.Old = encodeValue(n, old)
				}
				if hasNew {
					ch.New = encodeValue(n, new)
				}
				out = append(out, ch)
			})
		}
	}
	return out
}

func encodeValue(n *schema.Node, v any) any {
	if n == nil {
		return v
	}
	return schema.Encode(n, v, schema.EncodeOptions{})
}

// diffData reports leaf-level differences between two data maps of one
// object (leaves and leaf-lists; containers are descended into).
func diffData(n *schema.Node, a, b map[string]any, inner []string, fn func(inner []string, n *schema.Node, old, new any, hadOld, hasNew bool)) {
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		av, aok := a[k]
		bv, bok := b[k]
		var c *schema.Node
		if n != nil {
			c = n.Child(k)
		}
		p := append(append([]string{}, inner...), k)
		am, aIsMap := av.(map[string]any)
		bm, bIsMap := bv.(map[string]any)
		if (aIsMap || !aok) && (bIsMap || !bok) && (aIsMap || bIsMap) {
			diffData(c, am, bm, p, fn)
			continue
		}
		if aok && bok && equalValue(av, bv) {
			continue
		}
		fn(p, c, av, bv, aok, bok)
	}
}

// TxnInfo summarises a transaction for listings.
type TxnInfo struct {
	Index      uint64    `json:"index"`
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Principal  string    `json:"username"`
	Source     string    `json:"source"`
	Message    string    `json:"message,omitempty"`
	RollbackOf uint64    `json:"rollback-of,omitempty"`
	Replica    string    `json:"replica,omitempty"`
	// Targets are the tenants whose objects (or records) the transaction
	// touched; a global set's objects add none.
	Targets []string `json:"targets"`
	// Sets are the model set versions ("lab/1.0.0") whose objects it
	// touched.
	Sets  []string `json:"sets,omitempty"`
	Paths int      `json:"changed-objects"`
}

// info summarises the record; the keys alone tell the sets and tenants
// (the object images need not be decoded).
func (r *Record) info(sch *schema.Schema) TxnInfo {
	ts, ss := map[string]bool{}, map[string]bool{}
	for _, c := range r.Changes {
		if t, ok := strings.CutPrefix(c.Key, targetPrefix); ok {
			ts[t] = true
			continue
		}
		set := sch.SetOfKey(c.Key)
		if set == nil {
			continue // a set no longer loaded: nothing is known of its scope
		}
		ss[set.Name+"/"+set.Version] = true
		if t := set.TenantOfKey(c.Key); t != "" {
			ts[t] = true
		}
	}
	return TxnInfo{Index: r.Index, ID: r.ID, Time: r.Time, Principal: r.Principal, Source: r.Source, Message: r.Message, RollbackOf: r.RollbackOf, Replica: r.Replica,
		Targets: sortedKeys(ts), Sets: sortedKeys(ss), Paths: len(r.Changes)}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ListTransactions returns up to limit transactions, newest first, with
// index < before (0 = from the newest), optionally only those touching target.
func (e *Engine) ListTransactions(before uint64, limit int, target string) ([]TxnInfo, error) {
	last := e.Snapshot().Index
	if before == 0 || before > last+1 {
		before = last + 1
	}
	first := e.store.FirstIndex()
	var out []TxnInfo
	if before <= first {
		return out, nil
	}
	err := e.store.Log(first, before-1, true, func(idx uint64, b []byte) error {
		r, err := decodeRecordKeys(e.schema, b)
		if err != nil {
			return err
		}
		info := r.info(e.schema)
		if target != "" && !contains(info.Targets, target) {
			return nil
		}
		out = append(out, info)
		if len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Transaction returns one transaction with its record.
func (e *Engine) Transaction(index uint64) (*Record, error) {
	if index == 0 || index > e.Snapshot().Index {
		return nil, schema.Errorf(schema.KindNotFound, fmt.Sprintf("/transactions/%d", index), "no transaction %d (the newest is %d)", index, e.Snapshot().Index)
	}
	var rec *Record
	err := e.store.Log(index, index, false, func(_ uint64, b []byte) error {
		r, err := e.decodeRecord(b)
		rec = r
		return err
	})
	if errors.Is(err, store.ErrCompacted) {
		return nil, schema.Errorf(schema.KindGone, fmt.Sprintf("/transactions/%d", index), "transaction %d is older than the retained history (first retained: %d)", index, e.store.FirstIndex())
	}
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// Info returns a record's summary; sch is the schema it was read with.
func (r *Record) Info(sch *schema.Schema) TxnInfo { return r.info(sch) }

// Diff returns what changed between two indexes (a < b): per object, its
// state at a and at b.
func (e *Engine) Diff(a, b uint64) ([]Change, error) {
	if a > b {
		a, b = b, a
	}
	if b > e.Snapshot().Index {
		return nil, schema.Errorf(schema.KindNotFound, fmt.Sprintf("/diff/%d/%d", a, b), "index %d is in the future (the newest is %d)", b, e.Snapshot().Index)
	}
	if a+1 < e.store.FirstIndex() && a != b {
		return nil, schema.Errorf(schema.KindGone, fmt.Sprintf("/diff/%d/%d", a, b), "index %d is older than the retained history (first retained: %d)", a, e.store.FirstIndex())
	}
	first := map[string]*Object{}
	last := map[string]*Object{}
	var order []string
	if a == b {
		return []Change{}, nil
	}
	err := e.store.Log(a+1, b, false, func(_ uint64, raw []byte) error {
		r, err := e.decodeRecord(raw)
		if err != nil {
			return err
		}
		for _, c := range r.Changes {
			if _, seen := first[c.Key]; !seen {
				first[c.Key] = c.Before
				order = append(order, c.Key)
			}
			last[c.Key] = c.After
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(order)
	rec := &Record{}
	for _, k := range order {
		if first[k] == nil && last[k] == nil {
			continue
		}
		rec.Changes = append(rec.Changes, ObjectChange{Key: k, Before: first[k], After: last[k]})
	}
	return e.Changes(rec), nil
}

// At returns a snapshot-like tree of the objects under prefix as they were
// at index (point-in-time read), built by undoing later transactions.
func (e *Engine) At(index uint64, prefix string) (*Snapshot, error) {
	cur := e.Snapshot()
	if index >= cur.Index {
		return cur, nil
	}
	if index+1 < e.store.FirstIndex() {
		return nil, schema.Errorf(schema.KindGone, prefix, "index %d is older than the retained history (first retained: %d)", index, e.store.FirstIndex())
	}
	objs := map[string]*Object{}
	cur.view().scan(prefix, func(o *Object) bool {
		objs[o.Key] = o
		return true
	})
	under := func(k string) bool {
		return strings.HasPrefix(k, prefix) || strings.HasPrefix(k, targetPrefix)
	}
	err := e.store.Log(index+1, cur.Index, true, func(_ uint64, raw []byte) error {
		r, err := e.decodeRecord(raw)
		if err != nil {
			return err
		}
		for _, c := range r.Changes {
			if !under(c.Key) {
				continue
			}
			if c.Before == nil {
				delete(objs, c.Key)
			} else {
				objs[c.Key] = c.Before
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrCompacted) {
			return nil, schema.Errorf(schema.KindGone, prefix, "index %d is older than the retained history", index)
		}
		return nil, err
	}
	txn := iradix.New[*Object]().Txn()
	for k, o := range objs {
		txn.Insert([]byte(k), o)
	}
	// Targets as they were too, so "does the enterprise exist" is answered
	// for that time.
	cur.view().scan(targetPrefix, func(o *Object) bool {
		if _, undone := objs[o.Key]; !undone {
			txn.Insert([]byte(o.Key), o)
		}
		return true
	})
	return &Snapshot{Index: index, Objects: txn.CommitOnly(), schema: e.schema}, nil
}

// applyRollback undoes transaction n inside w, refusing with a conflict
// report when a later transaction changed the same leaves or objects.
func (e *Engine) applyRollback(w *work, n uint64) error {
	path := fmt.Sprintf("/transactions/%d", n)
	if n == 0 || n > w.base.Index {
		return schema.Errorf(schema.KindNotFound, path, "no transaction %d (the newest is %d)", n, w.base.Index)
	}
	var target *Record
	var later []*Record
	err := e.store.Log(n, w.base.Index, false, func(idx uint64, raw []byte) error {
		r, err := e.decodeRecord(raw)
		if err != nil {
			return err
		}
		if idx == n {
			target = r
		} else {
			later = append(later, r)
		}
		return nil
	})
	if errors.Is(err, store.ErrCompacted) {
		return schema.Errorf(schema.KindGone, path, "transaction %d is older than the retained history (first retained: %d)", n, e.store.FirstIndex())
	}
	if err != nil {
		return err
	}
	// A leaf (or object) conflicts when its current state is no longer what
	// transaction n left: a later change that was itself undone does not
	// count, so "roll back the later one first" works.
	probs := schema.Problems{Kind: schema.KindConflict}
	culprits := func(key string, leaf []string) string {
		var who []string
		for _, r := range later {
			for _, c := range r.Changes {
				if c.Key != key && !strings.HasPrefix(c.Key, key+"/") {
					continue
				}
				hit := leaf == nil || c.Before == nil || c.After == nil
				if !hit {
					a, aok := schema.Lookup(c.Before.Data, leaf)
					b, bok := schema.Lookup(c.After.Data, leaf)
					hit = aok != bok || !equalValue(a, b)
				}
				if hit {
					who = append(who, fmt.Sprintf("transaction %d (%s, by %s)", r.Index, r.Time.Format(time.RFC3339), orUnknown(r.Principal)))
					break
				}
			}
		}
		if len(who) == 0 {
			return "changed since"
		}
		return "changed again by " + strings.Join(who, ", ")
	}
	const advice = "; roll that back first or edit by hand"
	for _, c := range target.Changes {
		cur, exists := w.get(c.Key)
		switch {
		case c.Before == nil: // created by n: undoing deletes it
			if !exists || !equalValue(cur.Data, c.After.Data) {
				probs.Add(changePath(c), "%s%s", culprits(c.Key, nil), advice)
			}
			for _, k := range w.keysUnder(c.Key + "/") {
				if !touchedBy(target, k) {
					o, _ := w.get(k)
					probs.Add(objectPath(o), "created later inside %s, which the rollback would delete: %s%s", changePath(c), culprits(k, nil), advice)
				}
			}
		case c.After == nil: // deleted by n: undoing recreates it
			if exists {
				probs.Add(changePath(c), "re-created since: %s%s", culprits(c.Key, nil), advice)
			}
		default:
			if !exists {
				probs.Add(changePath(c), "deleted since: %s%s", culprits(c.Key, nil), advice)
				continue
			}
			diffData(nil, c.Before.Data, c.After.Data, nil, func(inner []string, _ *schema.Node, _, _ any, _, _ bool) {
				want, wok := schema.Lookup(c.After.Data, inner)
				got, gok := schema.Lookup(cur.Data, inner)
				if wok != gok || !equalValue(want, got) {
					probs.Add(changePath(c)+"/"+strings.Join(inner, "/"), "%s%s", culprits(c.Key, inner), advice)
				}
			})
		}
	}
	probs.List = dedupProblems(probs.List)
	if err := probs.Err(); err != nil {
		e := err.(*schema.Error)
		e.Message = fmt.Sprintf("transaction %d cannot be rolled back: later transactions changed what it changed", n)
		return e
	}
	for _, c := range target.Changes {
		switch {
		case c.Before == nil:
			w.del(c.Key)
		case c.After == nil:
			o := *c.Before
			o.Modified = w.index
			w.put(&o)
		default:
			cur, ok := w.get(c.Key)
			if !ok {
				continue
			}
			data := cloneMap(cur.Data)
			// Diff from after to before: the "new" side is the value to restore.
			diffData(nil, c.After.Data, c.Before.Data, nil, func(inner []string, _ *schema.Node, _, restore any, _, present bool) {
				setPath(data, inner, restore, present)
			})
			pruneEmpty(data)
			w.put(&Object{Key: c.Key, Node: cur.Node, Data: data, Created: cur.Created, Modified: w.index})
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func changePath(c ObjectChange) string {
	if c.After != nil {
		return objectPath(c.After)
	}
	return objectPath(c.Before)
}

// touchedBy reports whether a record changed key.
func touchedBy(r *Record, key string) bool {
	for _, c := range r.Changes {
		if c.Key == key {
			return true
		}
	}
	return false
}

// setPath sets (or, when !present, removes) a value at a path of names.
func setPath(m map[string]any, path []string, v any, present bool) {
	cur := m
	for _, p := range path[:len(path)-1] {
		sub, ok := cur[p].(map[string]any)
		if !ok {
			if !present {
				return
			}
			sub = map[string]any{}
			cur[p] = sub
		}
		cur = sub
	}
	last := path[len(path)-1]
	if present {
		cur[last] = v
	} else {
		delete(cur, last)
	}
}

// dedupProblems drops repeated problems (a change can overlap what a
// transaction touched at more than one level), keeping the first order.
func dedupProblems(ps []schema.Problem) []schema.Problem {
	seen := map[schema.Problem]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
