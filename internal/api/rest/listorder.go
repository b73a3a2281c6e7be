package rest

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// order is a list read's ?sort=: the leaf its entries are ordered by,
// ascending or, with a leading "-", descending. Numbers (integers,
// decimals) compare as numbers, anything else as text; an entry without
// the leaf takes the leaf's default, and without one comes after every
// entry that has it (before them descending); ties keep key order.
type order struct {
	path    []string
	leaf    *schema.Node
	numeric bool
	desc    bool
}

func parseOrder(r *http.Request, list *schema.Node) (*order, error) {
	v := r.URL.Query().Get("sort")
	if v == "" {
		return nil, nil
	}
	lp, desc := strings.CutPrefix(v, "-")
	parts, n, err := listLeaf(list, lp, "?sort", false)
	if err != nil {
		return nil, err
	}
	base := n.Type.Base
	if base == schema.TLeafref && n.Type.Target != nil {
		base = n.Type.Target.Type.Base
	}
	return &order{path: parts, leaf: n, desc: desc, numeric: base == schema.TInt || base == schema.TUint || base == schema.TDecimal}, nil
}

// sortKey is where an entry falls in an order: its leaf's value and its
// key segments, the tie-break. It is also the paging position a sorted
// page's continue token carries, so the next page starts after it even
// when that entry has gone meanwhile.
type sortKey struct {
	Set   bool   `json:"s"`
	Value string `json:"v"`
	Entry string `json:"e"`
	num   *big.Rat
}

func (o *order) key(data map[string]any, entry string) sortKey {
	k := sortKey{Entry: entry}
	if v, ok := schema.Lookup(data, o.path); ok {
		k.Set, k.Value = true, schema.Format(v)
	} else if len(o.leaf.Default) > 0 {
		k.Set, k.Value = true, o.leaf.Default[0]
	}
	o.parse(&k)
	return k
}

func (o *order) parse(k *sortKey) {
	if o.numeric && k.Set {
		k.num, _ = new(big.Rat).SetString(k.Value)
	}
}

// compare orders a before b (negative), after (positive) or equal.
func (o *order) compare(a, b sortKey) int {
	c := 0
	switch {
	case a.Set != b.Set:
		c = -1 // the entry that has the leaf first
		if !a.Set {
			c = 1
		}
	case a.num != nil && b.num != nil:
		c = a.num.Cmp(b.num)
	default:
		c = strings.Compare(a.Value, b.Value)
	}
	if c == 0 {
		c = strings.Compare(a.Entry, b.Entry)
	}
	if o.desc {
		return -c
	}
	return c
}

// sortedEntry is one entry of a sorted read, kept until its page is cut.
type sortedEntry struct {
	key sortKey
	obj *config.Object
}

// page sorts the entries and cuts the page after the position of the
// continue token (none: the first page): its entries and, when more
// follow, the next page's token.
func (o *order) page(all []sortedEntry, cont string, limit uint64, hasLimit bool) ([]sortedEntry, string, error) {
	slices.SortFunc(all, func(a, b sortedEntry) int { return o.compare(a.key, b.key) })
	start := 0
	if cont != "" {
		var after sortKey
		if err := json.Unmarshal([]byte(cont), &after); err != nil {
			return nil, "", errBadContinue
		}
		o.parse(&after)
		start, _ = slices.BinarySearchFunc(all, after, func(e sortedEntry, k sortKey) int { return o.compare(e.key, k) })
		if start < len(all) && o.compare(all[start].key, after) == 0 {
			start++
		}
	}
	end := len(all)
	if hasLimit && uint64(end-start) > limit {
		end = start + int(limit)
	}
	next := ""
	if end < len(all) {
		b, _ := json.Marshal(all[end-1].key)
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return all[start:end], next, nil
}

var errBadContinue = schema.Errorf(schema.KindInvalid, "?continue", "not a continue token from this API")
