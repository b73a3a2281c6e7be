package gnmi

import (
	"sort"
	"strings"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/schema"
)

// AllTargets in a Get or Subscribe prefix addresses every enterprise the
// caller may read.
const AllTargets = "*"

// pathSpec is one request path (prefix + path) checked against the schema,
// not yet bound to a target.
type pathSpec struct {
	set    *schema.ModelSet
	origin string // as the client sent it
	target string // an enterprise id or AllTargets
	elems  []*gpb.PathElem
	segs   []string // REST segments (escaped) for schema.Resolve
	str    string   // gNMI string form, for messages
}

// loc resolves the path for one target.
func (p *pathSpec) loc(target string) (*schema.Location, error) {
	loc, err := schema.Resolve(p.set, target, p.segs)
	if err != nil {
		return nil, p.wrap(err)
	}
	return loc, nil
}

// wrap names the gNMI path in a schema error's message.
func (p *pathSpec) wrap(err error) error {
	if se, ok := err.(*schema.Error); ok {
		c := *se
		c.Message = "path " + p.str + ": " + se.Message
		return &c
	}
	return err
}

// fullPath returns the response path: origin and elements (the target goes
// into the notification prefix).
func (p *pathSpec) fullPath() *gpb.Path {
	return &gpb.Path{Origin: p.origin, Elem: p.elems}
}

// pathString renders elements in the gNMI string form.
func pathString(elems []*gpb.PathElem) string {
	if len(elems) == 0 {
		return "/"
	}
	esc := strings.NewReplacer(`\`, `\\`, `]`, `\]`)
	var b strings.Builder
	for _, e := range elems {
		b.WriteString("/" + e.GetName())
		keys := make([]string, 0, len(e.GetKey()))
		for k := range e.GetKey() {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			b.WriteString("[" + k + "=" + esc.Replace(e.GetKey()[k]) + "]")
		}
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// selectSet picks the model set for an origin, honouring use_models: every
// model named must be a module of the set (at the given revision, if one is
// given).
func (s *Server) selectSet(origin string, models []*gpb.ModelData) (*schema.ModelSet, error) {
	name := origin
	sch := s.eng.Schema()
	def := "none: name one"
	if set := compat.GNMIDefault(sch); set != nil {
		def = set.Name
		if name == "" {
			name = set.Name
		}
	}
	var cands []*schema.ModelSet
	for _, set := range sch.Sets {
		if set.Name == name {
			cands = append(cands, set)
		}
	}
	if len(cands) == 0 {
		var names []string
		for _, set := range sch.Sets {
			names = append(names, set.Name)
		}
		return nil, errorf(codes.NotFound, "unknown origin %q: the origin is a model set name, one of %s (empty = %s)", origin, strings.Join(names, ", "), def)
	}
	best := sch.Set(name, "")
	if len(models) == 0 {
		return best, nil
	}
	var why string
	// Newest first: the newest version holding every named module wins.
	sort.SliceStable(cands, func(i, j int) bool { return schema.NewerVersion(cands[i].Version, cands[j].Version) })
	for _, set := range cands {
		ok := true
		for _, m := range models {
			if !hasModule(set, m) {
				ok = false
				why = describeModel(m)
				break
			}
		}
		if ok {
			return set, nil
		}
	}
	return nil, errorf(codes.InvalidArgument, "use_models: %s is not a loaded module of origin %q (see Capabilities)", why, name)
}

func hasModule(set *schema.ModelSet, m *gpb.ModelData) bool {
	for _, mi := range set.Modules {
		if mi.Name == m.GetName() && (m.GetVersion() == "" || m.GetVersion() == mi.Revision) &&
			(m.GetOrganization() == "" || m.GetOrganization() == mi.Organization) {
			return true
		}
	}
	return false
}

func describeModel(m *gpb.ModelData) string {
	s := "module " + m.GetName()
	if m.GetVersion() != "" {
		s += " version " + m.GetVersion()
	}
	return s
}

// rpcKind says what a path may use: Set allows no wildcards.
type rpcKind int

const (
	forRead rpcKind = iota
	forSet
)

// parsePath checks prefix + p against the schema. The target comes from the
// path if it has one (as onos-config allowed, so one Set can span
// enterprises), else from the prefix.
func (s *Server) parsePath(prefix, p *gpb.Path, models []*gpb.ModelData, kind rpcKind) (*pathSpec, error) {
	// The deprecated string elements are ignored when elem is also set (as
	// gnmi_cli sends both); alone they are refused.
	if len(prefix.GetElement()) > 0 && len(prefix.GetElem()) == 0 || len(p.GetElement()) > 0 && len(p.GetElem()) == 0 {
		return nil, errorf(codes.InvalidArgument, "the deprecated path field \"element\" is not supported: elem is required (gNMI 0.4.0 and later)")
	}
	origin := prefix.GetOrigin()
	if o := p.GetOrigin(); o != "" {
		if origin != "" && origin != o {
			return nil, errorf(codes.InvalidArgument, "origin %q in the path differs from origin %q in the prefix", o, origin)
		}
		origin = o
	}
	target := prefix.GetTarget()
	if t := p.GetTarget(); t != "" {
		target = t
	}
	elems := append(append([]*gpb.PathElem{}, prefix.GetElem()...), p.GetElem()...)
	ps := &pathSpec{origin: origin, target: target, elems: elems, str: pathString(elems)}
	set, err := s.selectSet(origin, models)
	if err != nil {
		return nil, err
	}
	ps.set = set
	if set.Global() {
		// A global set's objects belong to no enterprise: no target.
		if target != "" {
			return nil, errorf(codes.InvalidArgument, "path %s: model set %s is global: its paths take no target, not %q", ps.str, set.Name, target)
		}
	} else if target == "" {
		return nil, errorf(codes.InvalidArgument, "path %s: model set %s is per tenant: the target (enterprise id) is required in the prefix", ps.str, set.Name)
	}
	if target == AllTargets && kind == forSet {
		return nil, errorf(codes.InvalidArgument, "path %s: Set needs one enterprise as its target, not %q", ps.str, AllTargets)
	}
	n := set.Root
	for i, e := range elems {
		name := e.GetName()
		if name == "*" || name == "..." {
			return nil, errorf(codes.Unimplemented, "path %s: wildcard element %q is not supported: name the node, or name a list without keys to get all its entries", ps.str, name)
		}
		if n.Kind == schema.Leaf || n.Kind == schema.LeafList {
			return nil, errorf(codes.NotFound, "path %s: %q is a leaf and has no children", ps.str, n.Name)
		}
		c := n.Child(name)
		if c == nil || name == "" {
			return nil, errorf(codes.NotFound, "path %s: no %q in %s", ps.str, name, describe(n))
		}
		ps.segs = append(ps.segs, schema.EscapeSegment(c.Name))
		keys := e.GetKey()
		last := i == len(elems)-1
		if c.Kind != schema.List {
			if len(keys) > 0 {
				return nil, errorf(codes.InvalidArgument, "path %s: %q is not a list and takes no keys", ps.str, c.Name)
			}
			n = c
			continue
		}
		if len(keys) > 0 && allWild(keys) && last && kind == forRead {
			// /site[site-id=*] as the last element: the whole list.
			n = c
			continue
		}
		if len(keys) == 0 {
			if !last {
				return nil, errorf(codes.InvalidArgument, "path %s: list %q needs its keys [%s=…] here", ps.str, c.Name, strings.Join(c.Keys, "=…]["))
			}
			n = c
			continue
		}
		for k := range keys {
			if kn := c.Child(k); kn == nil || !kn.IsKey() {
				return nil, errorf(codes.InvalidArgument, "path %s: %q is not a key of list %q (keys: %s)", ps.str, k, c.Name, strings.Join(c.Keys, ", "))
			}
		}
		for _, k := range c.Keys {
			v, ok := keys[k]
			if !ok {
				return nil, errorf(codes.InvalidArgument, "path %s: list %q is missing key %q", ps.str, c.Name, k)
			}
			if v == "*" {
				if kind == forSet {
					return nil, errorf(codes.InvalidArgument, "path %s: Set does not take wildcards", ps.str)
				}
				return nil, errorf(codes.Unimplemented, "path %s: a wildcard key inside a path is not supported: read the whole list (%s without keys, or with every key =*, as the last element)", ps.str, c.Name)
			}
			ps.segs = append(ps.segs, schema.EscapeSegment(v))
		}
		n = c
	}
	// Check key values and the rest against one target; any target name
	// will do for a syntax check.
	probe := target
	if probe == AllTargets {
		probe = "x"
	}
	if _, err := ps.loc(probe); err != nil {
		return nil, toStatus(err)
	}
	return ps, nil
}

func allWild(keys map[string]string) bool {
	for _, v := range keys {
		if v != "*" {
			return false
		}
	}
	return true
}

func describe(n *schema.Node) string {
	if n.Kind == schema.Root {
		return "the " + n.Set.Name + " " + n.Set.Version + " root"
	}
	return n.Kind.String() + " \"" + n.Name + "\""
}

// locElems renders a location (an object or a node in one) as gNMI path
// elements.
func locElems(loc *schema.Location) []*gpb.PathElem {
	segs := schema.SplitPath(strings.TrimPrefix(loc.REST(), schema.RESTPrefix(loc.Set, loc.Tenant)))
	var out []*gpb.PathElem
	n := loc.Set.Root
	for i := 0; i < len(segs); i++ {
		name, _ := schema.UnescapeSegment(segs[i])
		c := n.Child(name)
		if c == nil {
			break
		}
		e := &gpb.PathElem{Name: c.Name}
		if c.Kind == schema.List && i+1 < len(segs) {
			e.Key = map[string]string{}
			for _, k := range c.Keys {
				if i+1 >= len(segs) {
					break
				}
				i++
				v, _ := schema.UnescapeSegment(segs[i])
				e.Key[k] = v
			}
		}
		out = append(out, e)
		n = c
	}
	return out
}
