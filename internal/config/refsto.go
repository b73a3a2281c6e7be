package config

import "strings"

// RefersTo calls fn, until it returns false, for every reference the
// object stored at key holds (a leafref or an ampx:refers-to), with the
// referring leaf ("device=srv1") and the storage key of the object it
// names: the forward half of the reference index Referrers reads
// backwards, so "what does X use" costs what X holds, not the store.
func (s *Snapshot) RefersTo(key string, fn func(leaf, target string) bool) {
	if s.Refs == nil {
		return
	}
	prefix := "f\x00" + key + "\x00"
	it := s.Refs.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for k, _, ok := it.Next(); ok; k, _, ok = it.Next() {
		rest := string(k[len(prefix):])
		i := strings.IndexByte(rest, 0)
		if !fn(rest[:i], rest[i+1:]) {
			return
		}
	}
}
