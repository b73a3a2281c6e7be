package schema

import (
	"fmt"
	"strings"
)

// gNMI paths in their string form (gNMI path conventions, as gnmi_cli and
// gnmic print them): elements separated by "/", list keys as [name=value],
// with "]" and "\" inside a value escaped by a backslash. The origin is the
// model set and the target the tenant (none for a global set), so they are
// not part of the path.

// GNMIPath renders a location as a gNMI path string.
func (l *Location) GNMIPath() string {
	segs := SplitPath(strings.TrimPrefix(l.REST(), RESTPrefix(l.Set, l.Tenant)))
	esc := strings.NewReplacer(`\`, `\\`, `]`, `\]`)
	var b strings.Builder
	n := l.Set.Root
	for i := 0; i < len(segs); i++ {
		name, _ := UnescapeSegment(segs[i])
		c := n.Child(name)
		if c == nil {
			break
		}
		b.WriteString("/" + c.Name)
		if c.Kind == List {
			for _, k := range c.Keys {
				if i+1 >= len(segs) {
					break
				}
				i++
				v, _ := UnescapeSegment(segs[i])
				b.WriteString("[" + k + "=" + esc.Replace(v) + "]")
			}
		}
		n = c
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// ParseGNMIPath resolves a gNMI path string against a model set, for a
// tenant ("" for a global set).
func ParseGNMIPath(set *ModelSet, tenant, p string) (*Location, error) {
	elems, err := splitGNMI(p)
	if err != nil {
		return nil, Errorf(KindInvalid, p, "%v", err)
	}
	var segs []string
	n := set.Root
	for i, e := range elems {
		c := n.Child(e.name)
		if c == nil {
			return nil, Errorf(KindNotFound, p, "no %q in %s", e.name, describeNode(n))
		}
		segs = append(segs, EscapeSegment(c.Name))
		if c.Kind == List {
			if len(e.keys) == 0 {
				if i != len(elems)-1 {
					return nil, Errorf(KindInvalid, p, "list %q needs its keys [%s=…] here", c.Name, strings.Join(c.Keys, "=…]["))
				}
			} else {
				for _, k := range c.Keys {
					v, ok := e.keys[k]
					if !ok {
						return nil, Errorf(KindInvalid, p, "list %q is missing key %q", c.Name, k)
					}
					segs = append(segs, EscapeSegment(v))
				}
				if len(e.keys) != len(c.Keys) {
					return nil, Errorf(KindInvalid, p, "list %q has keys %s only", c.Name, strings.Join(c.Keys, ", "))
				}
			}
		} else if len(e.keys) > 0 {
			return nil, Errorf(KindInvalid, p, "%q is not a list and takes no keys", c.Name)
		}
		n = c
	}
	return Resolve(set, tenant, segs)
}

type gnmiElem struct {
	name string
	keys map[string]string
}

func splitGNMI(p string) ([]gnmiElem, error) {
	var out []gnmiElem
	i := 0
	if strings.HasPrefix(p, "/") {
		i = 1
	}
	for i < len(p) {
		var e gnmiElem
		start := i
		for i < len(p) && p[i] != '/' && p[i] != '[' {
			i++
		}
		e.name = p[start:i]
		if j := strings.IndexByte(e.name, ':'); j >= 0 {
			e.name = e.name[j+1:]
		}
		if e.name == "" {
			return nil, errf("empty path element at offset %d", start)
		}
		for i < len(p) && p[i] == '[' {
			i++
			eq := strings.IndexByte(p[i:], '=')
			if eq < 0 {
				return nil, errf("key without '=' at offset %d", i)
			}
			k := p[i : i+eq]
			i += eq + 1
			var v strings.Builder
			closed := false
			for i < len(p) {
				c := p[i]
				if c == '\\' && i+1 < len(p) {
					v.WriteByte(p[i+1])
					i += 2
					continue
				}
				if c == ']' {
					closed = true
					i++
					break
				}
				v.WriteByte(c)
				i++
			}
			if !closed {
				return nil, errf("unterminated key %q", k)
			}
			if e.keys == nil {
				e.keys = map[string]string{}
			}
			e.keys[k] = v.String()
		}
		out = append(out, e)
		if i < len(p) {
			if p[i] != '/' {
				return nil, errf("unexpected %q at offset %d", p[i], i)
			}
			i++
		}
	}
	return out, nil
}

func errf(format string, args ...any) error { return &ValueError{Reason: fmt.Sprintf(format, args...)} }
