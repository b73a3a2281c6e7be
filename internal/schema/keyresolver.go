package schema

import (
	"strings"
	"sync"
)

// KeyResolver is ParseObjectKey for the many keys of a whole store, as a
// restore's check reads them. Storage keys come sorted, so the entries of
// one list follow one another, and each of them used to walk the models
// from the root again, re-parsing every ancestor's key values (a key
// pattern, a length) for every object. A KeyResolver remembers, for each
// list entry it resolved, the key without its own key values (the list's
// prefix, "lab/1.0.0/rack/r1/slot") and the list; a key under a
// known prefix then only has its own key values parsed, as Resolve would.
// Anything else, errors included, goes through ParseObjectKey, so the
// result and the messages are ParseObjectKey's. Safe for concurrent use.
type KeyResolver struct {
	s     *Schema
	mu    sync.RWMutex
	lists map[string]*Node // a list's prefix → the list
}

// NewKeyResolver returns a resolver with nothing remembered yet.
func (s *Schema) NewKeyResolver() *KeyResolver {
	return &KeyResolver{s: s, lists: map[string]*Node{}}
}

// Node returns the node of the object stored under key (a list, or the
// root), or ParseObjectKey's error.
func (r *KeyResolver) Node(key string) (*Node, error) {
	if n := r.sibling(key); n != nil {
		return n, nil
	}
	loc, err := r.s.ParseObjectKey(key)
	if err != nil {
		return nil, err
	}
	if loc.Node.Kind == List && loc.Node == loc.Object && !loc.Collection && len(loc.Inner) == 0 {
		prefix := key
		for range loc.Keys {
			prefix = prefix[:strings.LastIndexByte(prefix, '/')]
		}
		r.mu.Lock()
		r.lists[prefix] = loc.Node
		r.mu.Unlock()
	}
	return loc.Node, nil
}

// sibling returns the list key is an entry of when its prefix is known and
// its key values parse; nil otherwise.
func (r *KeyResolver) sibling(key string) *Node {
	end := len(key)
	for n := 1; ; n++ {
		i := strings.LastIndexByte(key[:end], '/')
		if i < 0 {
			return nil
		}
		end = i
		r.mu.RLock()
		list := r.lists[key[:end]]
		r.mu.RUnlock()
		if list == nil {
			continue
		}
		if len(list.Keys) != n {
			return nil // resolved as anything else, it is not an entry of this list
		}
		// Resolve's key step: every value present, unescaped, of its type.
		for j, seg := range strings.Split(key[end+1:], "/") {
			if seg == "" {
				return nil
			}
			v, err := UnescapeSegment(seg)
			if err != nil {
				return nil
			}
			if _, err := list.Child(list.Keys[j]).Type.Parse(v); err != nil {
				return nil
			}
		}
		return list
	}
}
