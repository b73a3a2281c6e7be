package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/openconfig/goyang/pkg/yang"
)

// Schema is every loaded model set.
type Schema struct {
	Sets  []*ModelSet
	byKey map[string]*ModelSet
}

// Set returns the model set with the given name and version ("" = the only
// or newest loaded version).
func (s *Schema) Set(name, version string) *ModelSet {
	if version != "" {
		return s.byKey[name+"/"+version]
	}
	var best *ModelSet
	for _, ms := range s.Sets {
		if ms.Name == name && (best == nil || NewerVersion(ms.Version, best.Version)) {
			best = ms
		}
	}
	return best
}

// NewerVersion reports whether set version a is newer than b: dotted
// numbers compare as numbers ("1.10.0" is newer than "1.9.0"), anything
// else as text.
func NewerVersion(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		x, errx := strconv.ParseUint(as[i], 10, 64)
		y, erry := strconv.ParseUint(bs[i], 10, 64)
		if errx == nil && erry == nil {
			return x > y
		}
		return as[i] > bs[i]
	}
	return len(as) > len(bs)
}

// Load reads model sets from the given file systems, later ones overriding
// earlier ones file by file (so --models DIR can replace or add modules).
//
// Layout: a directory holding .yang files directly is a library (shared
// types and extensions, e.g. ietf/, amp/); a directory <set>/<version>/
// holding .yang files is a model set whose modules' top-level data nodes form
// the set's tree.
func Load(sources ...fs.FS) (*Schema, error) {
	libs := map[string]string{}            // file name -> text
	sets := map[string]map[string]string{} // "set/version" -> file name -> text
	for _, src := range sources {
		err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ".yang") && path.Base(p) != DescriptorFile {
				return nil
			}
			b, err := fs.ReadFile(src, p)
			if err != nil {
				return err
			}
			dir := path.Dir(p)
			parts := strings.Split(dir, "/")
			switch len(parts) {
			case 1:
				if path.Base(p) == DescriptorFile {
					return fmt.Errorf("%s: a descriptor belongs in <set>/<version>/", p)
				}
				libs[path.Base(p)] = string(b)
			case 2:
				if sets[dir] == nil {
					sets[dir] = map[string]string{}
				}
				sets[dir][path.Base(p)] = string(b)
			default:
				return fmt.Errorf("%s: models must be <library>/*.yang or <set>/<version>/*.yang", p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read models: %w", err)
		}
	}
	s := &Schema{byKey: map[string]*ModelSet{}}
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, version, _ := strings.Cut(k, "/")
		ms, err := loadSet(name, version, libs, sets[k])
		if err != nil {
			return nil, fmt.Errorf("model set %s %s: %w", name, version, err)
		}
		s.Sets = append(s.Sets, ms)
		s.byKey[k] = ms
	}
	if err := s.resolveRefs(); err != nil {
		return nil, err
	}
	return s, nil
}

// DirFS returns an fs.FS for a --models directory, checking it exists.
func DirFS(dir string) (fs.FS, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("models directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("models directory %s is not a directory", dir)
	}
	return os.DirFS(dir), nil
}

// refuseUnsupported refuses a statement AMP would parse but not enforce as
// YANG says: a pattern's "modifier invert-match" (RFC 7950 9.4.6), which
// goyang drops, so the pattern would be checked the wrong way round.
func refuseUnsupported(st *yang.Statement) error {
	if st.Keyword == "modifier" {
		return fmt.Errorf("%s: pattern modifier %s is not supported (AMP would check the pattern as if it had none): write the pattern positively", st.Location(), st.Argument)
	}
	for _, sub := range st.SubStatements() {
		if err := refuseUnsupported(sub); err != nil {
			return err
		}
	}
	return nil
}

func loadSet(name, version string, libs, files map[string]string) (*ModelSet, error) {
	ms := yang.NewModules()
	parse := func(file, text string) (string, bool, error) {
		stmts, err := yang.Parse(text, file)
		if err != nil {
			return "", false, err
		}
		if len(stmts) != 1 {
			return "", false, fmt.Errorf("%s: expected one module", file)
		}
		if err := refuseUnsupported(stmts[0]); err != nil {
			return "", false, err
		}
		if err := ms.Parse(text, file); err != nil {
			return "", false, err
		}
		return stmts[0].Argument, stmts[0].Keyword == "module", nil
	}
	for f, text := range libs {
		if _, ok := files[f]; ok {
			continue
		}
		if _, _, err := parse(f, text); err != nil {
			return nil, err
		}
	}
	var mods []string
	fileNames := make([]string, 0, len(files))
	for f := range files {
		if f != DescriptorFile {
			fileNames = append(fileNames, f)
		}
	}
	sort.Strings(fileNames)
	for _, f := range fileNames {
		mod, isModule, err := parse(f, files[f])
		if err != nil {
			return nil, err
		}
		if isModule {
			mods = append(mods, mod)
		}
	}
	if errs := ms.Process(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var text []byte
	if t, ok := files[DescriptorFile]; ok {
		text = []byte(t)
	}
	desc, err := parseDescriptor(name, version, text)
	if err != nil {
		return nil, err
	}
	set := &ModelSet{Descriptor: desc}
	set.Root = &Node{Kind: Root, Config: true, Set: set}
	for _, mname := range mods {
		m, ok := ms.Modules[mname]
		if !ok {
			return nil, fmt.Errorf("module %s not found after processing", mname)
		}
		info := ModuleInfo{Name: mname, Namespace: valueName(m.Namespace), Organization: valueName(m.Organization)}
		if len(m.Revision) > 0 {
			info.Revision = m.Revision[0].Name
		}
		set.Modules = append(set.Modules, info)
		e := yang.ToEntry(m)
		if errs := e.GetErrors(); len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		for _, c := range sortedDir(e) {
			if c.RPC != nil || c.Kind == yang.NotificationEntry {
				continue
			}
			if err := addEntry(set.Root, c, mname, true, set, nil); err != nil {
				return nil, err
			}
		}
	}
	var errs []error
	set.Root.Walk(func(n *Node) {
		if err := resolveLeafrefs(n); err != nil {
			errs = append(errs, err)
		}
	})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func valueName(v *yang.Value) string {
	if v == nil {
		return ""
	}
	return v.Name
}

// sortedDir returns an entry's children in schema (source) order.
func sortedDir(e *yang.Entry) []*yang.Entry {
	out := make([]*yang.Entry, 0, len(e.Dir))
	for _, c := range e.Dir {
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := statementPos(out[i]), statementPos(out[j])
		if si != sj {
			return si < sj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// statementPos orders siblings as they appear in the YANG source; keys first.
func statementPos(e *yang.Entry) int {
	if e.Parent != nil && e.Parent.Key != "" {
		for i, k := range strings.Fields(e.Parent.Key) {
			if k == e.Name {
				return -1000 + i
			}
		}
	}
	if e.Node != nil && e.Node.Statement() != nil {
		st := e.Node.Statement()
		if p := st.Location(); p != "" {
			// Location is "file:line:col"; order by line, then column.
			parts := strings.Split(p, ":")
			if len(parts) >= 3 {
				var line, col int
				fmt.Sscanf(parts[len(parts)-2], "%d", &line)
				fmt.Sscanf(parts[len(parts)-1], "%d", &col)
				return line*1000 + col
			}
		}
	}
	return 0
}

// addEntry adds e below parent. A choice's cases are flattened into the
// parent (their nodes are the parent's children, as in the data tree), each
// node remembering the case it is in (cs: nil outside any choice).
func addEntry(parent *Node, e *yang.Entry, module string, config bool, set *ModelSet, cs *Case) error {
	switch {
	case e.IsChoice():
		ch := &Choice{Name: e.Name, Mandatory: e.Mandatory == yang.TSTrue, In: cs}
		for _, c := range sortedDir(e) {
			// A shorthand case (a node right under the choice) is a
			// case of its own, named after the node (RFC 7950 7.9.2).
			k := &Case{Choice: ch, Name: c.Name}
			if err := addEntry(parent, c, module, config, set, k); err != nil {
				return err
			}
		}
		return nil
	case e.IsCase():
		for _, c := range sortedDir(e) {
			if err := addEntry(parent, c, module, config, set, cs); err != nil {
				return err
			}
		}
		return nil
	}
	if m, err := e.InstantiatingModule(); err == nil && m != "" {
		module = m
	}
	n := &Node{
		Name:        e.Name,
		Module:      module,
		Description: e.Description,
		Units:       e.Units,
		Config:      config && e.Config != yang.TSFalse,
		Mandatory:   e.Mandatory == yang.TSTrue,
		Case:        cs,
		Set:         set,
	}
	for _, x := range e.Exts {
		switch {
		case strings.HasSuffix(x.Keyword, ":immutable"):
			n.Immutable = true
		case strings.HasSuffix(x.Keyword, ":legacy-decimal"):
			n.LegacyDecimal = true
		case strings.HasSuffix(x.Keyword, ":backend-endpoint"):
			n.Backend = x.Argument
		case strings.HasSuffix(x.Keyword, ":refers-to"):
			n.Ref = &Ref{Source: x.Argument}
		case strings.HasSuffix(x.Keyword, ":tenant"):
			n.TenantLeaf = true
		}
	}
	var musts []*yang.Must
	switch {
	case e.IsList():
		n.Kind = List
		n.Keys = strings.Fields(e.Key)
		if l, ok := e.Node.(*yang.List); ok {
			musts = l.Must
			for _, u := range l.Unique {
				n.Unique = append(n.Unique, strings.Fields(u.Name))
			}
		}
	case e.IsLeafList():
		n.Kind = LeafList
		if l, ok := e.Node.(*yang.LeafList); ok {
			musts = l.Must
		}
	case e.IsLeaf():
		n.Kind = Leaf
		if l, ok := e.Node.(*yang.Leaf); ok {
			musts = l.Must
		}
	case e.IsContainer():
		n.Kind = Container
		if c, ok := e.Node.(*yang.Container); ok {
			musts = c.Must
			n.Presence = c.Presence != nil
		}
	default:
		return nil // anydata, anyxml: not supported, not exposed
	}
	for _, m := range musts {
		expr, err := Compile(m.Name)
		if err != nil {
			return fmt.Errorf("%s: must %q: %w", e.Path(), m.Name, err)
		}
		n.Musts = append(n.Musts, &Must{Source: m.Name, ErrorMessage: valueName(m.ErrorMessage), Expr: expr})
	}
	if n.Kind == Leaf || n.Kind == LeafList {
		t, err := newType(e.Type)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Path(), err)
		}
		n.Type = t
		n.Default = e.DefaultValues()
		if len(n.Default) == 0 && e.Type.HasDefault && !n.Mandatory {
			n.Default = []string{e.Type.Default}
		}
	}
	parent.addChild(n)
	for _, c := range sortedDir(e) {
		if err := addEntry(n, c, module, n.Config, set, nil); err != nil {
			return err
		}
	}
	if n.Kind == List {
		for _, k := range n.Keys {
			if n.Child(k) == nil {
				return fmt.Errorf("%s: key %q is not a leaf of the list", e.Path(), k)
			}
		}
	}
	return nil
}

// resolveLeafrefs finds the target leaf of every leafref, walking the path
// over the schema, so values can be type-checked against the target's type.
func resolveLeafrefs(n *Node) error {
	if n.Type == nil {
		return nil
	}
	var visit func(t *Type) error
	visit = func(t *Type) error {
		for _, m := range t.Union {
			if err := visit(m); err != nil {
				return err
			}
		}
		if t.Base != TLeafref {
			return nil
		}
		cur := n
		if t.Leafref.Abs {
			cur = n.Set.Root
		}
		for _, st := range t.Leafref.Steps {
			switch st.Kind {
			case StepParent:
				cur = cur.Parent
			case StepChild:
				cur = cur.Child(st.Name)
			}
			if cur == nil {
				return fmt.Errorf("%s: leafref path %q does not lead to a schema node", n.SchemaPath(), t.LeafrefPath)
			}
		}
		if cur.Kind != Leaf && cur.Kind != LeafList {
			return fmt.Errorf("%s: leafref path %q does not end at a leaf", n.SchemaPath(), t.LeafrefPath)
		}
		t.Target = cur
		return nil
	}
	return visit(n.Type)
}
