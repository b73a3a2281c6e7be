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

// Location is a resolved data path: which node of which target it addresses
// and which stored object holds it.
type Location struct {
	Set    *ModelSet
	Target string
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

// RootKey is the storage key of a target's root object in a model set:
// "aether/2.1.x/acme". Keys carry the set's version, so that two versions
// of a set can be stored side by side.
func RootKey(set *ModelSet, target string) string {
	return setKeyPrefix(set) + EscapeSegment(target)
}

// TenantOfKey extracts the (unescaped) tenant from a storage key
// ("aether/2.1.x/acme/site/s1" → "acme").
func TenantOfKey(key string) string {
	parts := strings.SplitN(key, "/", 4)
	if len(parts) < 3 {
		return ""
	}
	t, err := UnescapeSegment(parts[2])
	if err != nil {
		return parts[2]
	}
	return t
}

// setKeyPrefix is what every storage key of a set version starts with.
func setKeyPrefix(set *ModelSet) string { return set.Name + "/" + set.Version + "/" }

// RESTPrefix is the REST path of a target's root: /aether/v2.1.x/acme.
func RESTPrefix(set *ModelSet, target string) string {
	return "/" + set.Name + "/v" + set.Version + "/" + EscapeSegment(target)
}

// Resolve walks path segments (already split on "/", still escaped) from the
// root of target in set.
func Resolve(set *ModelSet, target string, segs []string) (*Location, error) {
	loc := &Location{Set: set, Target: target, Node: set.Root, Object: set.Root, ObjectKey: RootKey(set, target)}
	rest := RESTPrefix(set, target)
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
func RESTPathOfKey(set *ModelSet, objectKey string, inner []string, collection bool, n *Node) string {
	rest := strings.TrimPrefix(objectKey, setKeyPrefix(set))
	p := "/" + set.Name + "/v" + set.Version + "/" + rest
	for _, s := range inner {
		p += "/" + s
	}
	if collection && n != nil {
		return p + "/" + n.Name
	}
	return p
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

// ParseObjectKey resolves a storage key ("aether/2.1.x/acme/site/s1") back
// to its location.
func (s *Schema) ParseObjectKey(key string) (*Location, error) {
	segs := strings.Split(key, "/")
	if len(segs) < 3 {
		return nil, Errorf(KindInvalid, key, "not an object key")
	}
	set := s.Set(segs[0], segs[1])
	if set == nil {
		return nil, Errorf(KindNotFound, key, "no model set %s version %s", segs[0], segs[1])
	}
	target, err := UnescapeSegment(segs[2])
	if err != nil {
		return nil, Errorf(KindInvalid, key, "bad target")
	}
	return Resolve(set, target, segs[3:])
}
