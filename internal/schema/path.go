package schema

import (
	"net/url"
	"strings"
)

// EscapeSegment escapes a key value for use as one path segment (REST URL
// and object key), so "/" inside a key (an IP prefix, say) stays one segment.
func EscapeSegment(s string) string { return url.PathEscape(s) }

// UnescapeSegment reverses EscapeSegment.
func UnescapeSegment(s string) (string, error) { return url.PathUnescape(s) }

// Location is a resolved data path: which node of which tenant it
// addresses and which stored object holds it.
type Location struct {
	Set *ModelSet
	// Tenant is the tenant (enterprise) whose objects the path addresses;
	// "" for a global set, whose objects belong to the operator.
	Tenant string
	Node   *Node
	// Object is the schema node of the object that holds Node (a list or the
	// root); ObjectKey is that object's storage key. For a whole list
	// (Collection) it is the list's parent object.
	Object    *Node
	ObjectKey string
	// Keys are the key values of the addressed list entry (Node is a list
	// and Collection is false).
	Keys []string
	// Inner is the path from the object to Node (container and leaf names);
	// for a Collection, the containers between the object and the list.
	Inner []string
	// Collection is true when the path names a whole list.
	Collection bool
}

// RootKey is the storage key of a root object: "workload/1.0.0/acme" for a
// tenant of a tenant set, "lab/1.0.0" for a global set (tenant ""). Keys
// carry the set's version, so that two versions of a set can be stored
// side by side.
func RootKey(set *ModelSet, tenant string) string {
	if set.Global() {
		return set.Name + "/" + set.Version
	}
	return setKeyPrefix(set) + EscapeSegment(tenant)
}

// TenantOfKey extracts the (unescaped) tenant from a storage key of this
// set ("workload/1.0.0/acme/deployment/d1" → "acme"); "" for a global set's keys.
// It runs in validation: no allocation unless the tenant is escaped.
func (set *ModelSet) TenantOfKey(key string) string {
	if set.Global() {
		return ""
	}
	rest := key
	for range 2 { // skip "name/version/"
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return ""
		}
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if strings.IndexByte(rest, '%') < 0 {
		return rest
	}
	if t, err := UnescapeSegment(rest); err == nil {
		return t
	}
	return rest
}

// TenantOfKey is ModelSet.TenantOfKey for a key of any loaded set; "" when
// the key's set is global or not loaded.
func (s *Schema) TenantOfKey(key string) string {
	if set := s.SetOfKey(key); set != nil {
		return set.TenantOfKey(key)
	}
	return ""
}

// SetOfKey returns the loaded set a storage key ("name/version/…") belongs
// to, or nil.
func (s *Schema) SetOfKey(key string) *ModelSet {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return nil
	}
	j := strings.IndexByte(key[i+1:], '/')
	if j < 0 {
		return s.byKey[key]
	}
	return s.byKey[key[:i+1+j]]
}

// setKeyPrefix is what every storage key of a set version starts with.
func setKeyPrefix(set *ModelSet) string { return set.Name + "/" + set.Version + "/" }

// RESTBase is the REST path of a set version: /workload/v1.0.0.
func RESTBase(set *ModelSet) string { return "/" + set.RESTPrefix + "/v" + set.Version }

// RESTPrefix is the REST path of a root: /workload/v1.0.0/acme for a tenant of
// a tenant set, /lab/v1.0.0 for a global set (tenant "").
func RESTPrefix(set *ModelSet, tenant string) string {
	if set.Global() {
		return RESTBase(set)
	}
	return RESTBase(set) + "/" + EscapeSegment(tenant)
}

// Resolve walks path segments (already split on "/", still escaped) from the
// root of tenant in set. A global set takes no tenant and a tenant set
// needs one: both mistakes are refused naming the path.
func Resolve(set *ModelSet, tenant string, segs []string) (*Location, error) {
	if set.Global() && tenant != "" {
		return nil, Errorf(KindInvalid, RESTBase(set)+"/"+EscapeSegment(tenant),
			"model set %s is global (the operator's): its paths have no tenant segment, %s/…", set.Name, RESTBase(set))
	}
	if !set.Global() && tenant == "" {
		return nil, Errorf(KindInvalid, RESTBase(set),
			"model set %s is per tenant: its paths start with the tenant, %s/{tenant}/…", set.Name, RESTBase(set))
	}
	loc := &Location{Set: set, Tenant: tenant, Node: set.Root, Object: set.Root, ObjectKey: RootKey(set, tenant)}
	rest := RESTPrefix(set, tenant)
	for i := 0; i < len(segs); i++ {
		seg := segs[i]
		if seg == "" {
			continue
		}
		name, err := UnescapeSegment(seg)
		if err != nil {
			return nil, Errorf(KindInvalid, rest+"/"+seg, "bad escape in path segment")
		}
		if loc.Node.Kind == Leaf || loc.Node.Kind == LeafList {
			return nil, Errorf(KindNotFound, rest+"/"+seg, "%q is a leaf and has no children", loc.Node.Name)
		}
		c := loc.Node.Child(name)
		if c == nil {
			if loc.Node.Kind == Root && set.Global() {
				// Most likely a tenant where a global set has none.
				return nil, Errorf(KindNotFound, rest+"/"+seg, "no %q in %s (model set %s is global: its paths have no tenant segment)", name, describeNode(loc.Node), set.Name)
			}
			return nil, Errorf(KindNotFound, rest+"/"+seg, "no %q in %s", name, describeNode(loc.Node))
		}
		rest += "/" + c.Name
		if c.Kind != List {
			loc.Node = c
			loc.Inner = append(loc.Inner, c.Name)
			continue
		}
		if i+1 >= len(segs) {
			// A whole list: Inner keeps the container path (if any)
			// between the parent object and the list.
			loc.Node, loc.Collection = c, true
			return loc, nil
		}
		if len(loc.Inner) > 0 {
			// A list inside a container: the container's path is part of
			// the key, so lists under different containers do not collide.
			loc.ObjectKey += "/" + strings.Join(loc.Inner, "/")
		}
		var keys []string
		keySegs := make([]string, 0, len(c.Keys))
		for _, k := range c.Keys {
			i++
			if i >= len(segs) || segs[i] == "" {
				return nil, Errorf(KindInvalid, rest, "missing key %q of list %q", k, c.Name)
			}
			v, err := UnescapeSegment(segs[i])
			if err != nil {
				return nil, Errorf(KindInvalid, rest+"/"+segs[i], "bad escape in key %q", k)
			}
			kn := c.Child(k)
			if _, err := kn.Type.Parse(v); err != nil {
				return nil, Errorf(KindInvalid, rest+"/"+segs[i], "key %s: %v", k, err)
			}
			keys = append(keys, v)
			keySegs = append(keySegs, EscapeSegment(v))
		}
		loc.ObjectKey += "/" + c.Name + "/" + strings.Join(keySegs, "/")
		rest += "/" + strings.Join(keySegs, "/")
		loc.Node, loc.Object, loc.Keys, loc.Inner = c, c, keys, nil
	}
	return loc, nil
}

// REST returns the location's REST path.
func (l *Location) REST() string {
	return RESTPathOfKey(l.Set, l.ObjectKey, l.Inner, l.Collection, l.Node)
}

// RESTPathOfKey renders the REST path for an object key plus an inner path.
// It runs for every path a validation message or a change names: one
// allocation.
func RESTPathOfKey(set *ModelSet, objectKey string, inner []string, collection bool, n *Node) string {
	rest, ok := cutSetKeyPrefix(set, objectKey)
	size := len(set.RESTPrefix) + len(set.Version) + len(rest) + 4
	for _, s := range inner {
		size += len(s) + 1
	}
	if collection && n != nil {
		size += len(n.Name) + 1
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString("/")
	b.WriteString(set.RESTPrefix)
	b.WriteString("/v")
	b.WriteString(set.Version)
	if ok {
		b.WriteByte('/')
		b.WriteString(rest)
	}
	for _, s := range inner {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if collection && n != nil {
		b.WriteByte('/')
		b.WriteString(n.Name)
	}
	return b.String()
}

// cutSetKeyPrefix returns what follows "name/version/" in a key of set,
// without building that prefix.
func cutSetKeyPrefix(set *ModelSet, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, set.Name)
	if !ok || len(rest) == 0 || rest[0] != '/' {
		return "", false
	}
	rest, ok = strings.CutPrefix(rest[1:], set.Version)
	if !ok || len(rest) == 0 || rest[0] != '/' {
		return "", false
	}
	return rest[1:], true
}

// SplitPath splits a slash-separated path into raw segments, dropping empty
// leading and trailing segments.
func SplitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// ParseObjectKey resolves a storage key ("workload/1.0.0/acme/deployment/d1",
// "lab/1.0.0/rack/r1") back to its location.
func (s *Schema) ParseObjectKey(key string) (*Location, error) {
	segs := strings.Split(key, "/")
	if len(segs) < 2 {
		return nil, Errorf(KindInvalid, key, "not an object key")
	}
	set := s.Set(segs[0], segs[1])
	if set == nil {
		return nil, Errorf(KindNotFound, key, "no model set %s version %s", segs[0], segs[1])
	}
	if set.Global() {
		return Resolve(set, "", segs[2:])
	}
	if len(segs) < 3 {
		return nil, Errorf(KindInvalid, key, "not an object key")
	}
	tenant, err := UnescapeSegment(segs[2])
	if err != nil || tenant == "" {
		return nil, Errorf(KindInvalid, key, "bad tenant")
	}
	return Resolve(set, tenant, segs[3:])
}
