package config

import "github.com/amp-edge/amp/internal/schema"

// Owner returns the tenant a global object is tied to: the value of the
// ampx:tenant leaf of the object at loc, or of the nearest object above it
// that has such a leaf (an entry of a list nested in a tied object belongs
// with it).
// It is "" for a tenant set, the set's root and its top-level lists (their
// entries have owners, not the list), an object that does not exist and
// one that names no tenant. The authorizer is told it so that the policy
// can let that tenant read the object; it costs a lookup per object level,
// nothing for tenant sets.
func (s *Snapshot) Owner(loc *schema.Location) string {
	if !loc.Set.Global() || loc.Object.Kind == schema.Root {
		return ""
	}
	o, ok := s.Get(loc.ObjectKey)
	if !ok {
		return ""
	}
	return s.OwnerOf(o)
}

// OwnerOf is Owner for an object in hand (an entry of a listing).
func (s *Snapshot) OwnerOf(o *Object) string {
	ok := o.Node != nil && o.Node.Set.Global()
	for ok && o.Node.Kind != schema.Root {
		if p := o.Node.TenantLeafPath(); p != nil {
			v, _ := schema.Lookup(o.Data, p)
			t, _ := v.(string)
			return t
		}
		pk, _ := parentKey(o)
		o, ok = s.Get(pk)
	}
	return ""
}
