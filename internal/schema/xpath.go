package schema

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// This file implements the part of XPath 1.0 (plus YANG's current()) that
// YANG must and leafref statements use: location paths with child, parent and
// self steps and predicates, the usual operators, and the core functions.
// It evaluates over DataNode, so the engine's snapshots are navigated
// directly. A predicate that compares a list key with a value that does not
// depend on the context node ("[id = current()/../x]") is evaluated as a keyed
// lookup, so reference checks cost O(log n) instead of a scan of the list.

// DataNode is an instance data node as XPath sees it.
type DataNode interface {
	Schema() *Node
	Parent() DataNode
	Root() DataNode
	// Children returns the instances of child schema node c: list entries,
	// leaf-list items, or the single container or leaf if present.
	Children(c *Node) []DataNode
	// Entry returns the entry of list c (a child schema node) with the given
	// key values, or nil.
	Entry(c *Node, keys []string) DataNode
	// Value returns the canonical value of a leaf or leaf-list item.
	Value() any
	// ID identifies the node within its tree.
	ID() string
}

// Expr is a compiled XPath expression.
type Expr interface {
	eval(c *evalCtx) (xval, error)
	contextFree() bool
}

// Compile parses an XPath expression.
func Compile(src string) (Expr, error) {
	p := &xparser{toks: nil}
	toks, err := xtokenize(src)
	if err != nil {
		return nil, err
	}
	p.toks = toks
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at end of expression", p.toks[p.pos].text)
	}
	return e, nil
}

// ParsePath parses a leafref path (a location path, possibly starting with
// current()).
func ParsePath(src string) (*PathExpr, error) {
	e, err := Compile(src)
	if err != nil {
		return nil, err
	}
	pe, ok := e.(*PathExpr)
	if !ok {
		return nil, fmt.Errorf("%q is not a path", src)
	}
	return pe, nil
}

// EvalBool evaluates e with ctx as both context node and current().
func EvalBool(e Expr, ctx DataNode) (bool, error) {
	v, err := e.eval(&evalCtx{node: ctx, current: ctx})
	if err != nil {
		return false, err
	}
	return toBool(v), nil
}

// EvalNodes evaluates e, which must yield a node-set.
func EvalNodes(e Expr, ctx DataNode) ([]DataNode, error) {
	v, err := e.eval(&evalCtx{node: ctx, current: ctx})
	if err != nil {
		return nil, err
	}
	ns, ok := v.(nodeSet)
	if !ok {
		return nil, fmt.Errorf("expression does not yield nodes")
	}
	return ns, nil
}

type evalCtx struct {
	node    DataNode
	current DataNode
}

type xval any // nodeSet | string | float64 | bool

type nodeSet []DataNode

// ---- tokenizer

type xtok struct {
	kind int // tName, tNum, tLit, tOp
	text string
}

const (
	tName = iota + 1
	tNum
	tLit
	tOp
)

func xtokenize(s string) ([]xtok, error) {
	var out []xtok
	operand := func() bool {
		if len(out) == 0 {
			return false
		}
		t := out[len(out)-1]
		switch t.kind {
		case tName, tNum, tLit:
			return !(t.kind == tName && (t.text == "and" || t.text == "or" || t.text == "div" || t.text == "mod") && len(out) > 1 && isOperandTok(out[len(out)-2]))
		}
		return t.text == ")" || t.text == "]" || t.text == "." || t.text == ".."
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated string literal")
			}
			out = append(out, xtok{tLit, s[i+1 : i+1+j]})
			i += j + 2
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, xtok{tNum, s[i:j]})
			i = j
		case c == '.':
			if i+1 < len(s) && s[i+1] == '.' {
				out = append(out, xtok{tOp, ".."})
				i += 2
			} else {
				out = append(out, xtok{tOp, "."})
				i++
			}
		case c == '/':
			if i+1 < len(s) && s[i+1] == '/' {
				return nil, fmt.Errorf("the descendant axis // is not supported")
			}
			out = append(out, xtok{tOp, "/"})
			i++
		case c == '!' || c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, xtok{tOp, s[i : i+2]})
				i += 2
			} else if c == '!' {
				return nil, fmt.Errorf("unexpected '!'")
			} else {
				out = append(out, xtok{tOp, string(c)})
				i++
			}
		case c == '*' && !operand():
			out = append(out, xtok{tName, "*"})
			i++
		case strings.IndexByte("=[]()|,+-*@", c) >= 0:
			if c == '@' {
				return nil, fmt.Errorf("the attribute axis is not supported")
			}
			out = append(out, xtok{tOp, string(c)})
			i++
		case isNameStart(rune(c)):
			j := i + 1
			for j < len(s) && (isNameChar(rune(s[j])) || (s[j] == ':' && j+1 < len(s) && isNameStart(rune(s[j+1])) && s[j+1] != ':')) {
				j++
			}
			name := s[i:j]
			if strings.Contains(name, "::") {
				return nil, fmt.Errorf("axes are not supported: %q", name)
			}
			out = append(out, xtok{tName, name})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return out, nil
}

func isOperandTok(t xtok) bool {
	return t.kind == tName || t.kind == tNum || t.kind == tLit || t.text == ")" || t.text == "]" || t.text == "." || t.text == ".."
}

func isNameStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isNameChar(r rune) bool {
	return isNameStart(r) || unicode.IsDigit(r) || r == '-' || r == '.'
}

// ---- parser

type xparser struct {
	toks []xtok
	pos  int
}

func (p *xparser) peek() *xtok {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *xparser) isOp(s string) bool {
	t := p.peek()
	return t != nil && t.kind == tOp && t.text == s
}

func (p *xparser) isWord(s string) bool {
	t := p.peek()
	return t != nil && t.kind == tName && t.text == s && p.pos > 0 && isOperandTok(p.toks[p.pos-1])
}

type binExpr struct {
	op   string
	l, r Expr
}

func (b *binExpr) contextFree() bool { return b.l.contextFree() && b.r.contextFree() }

func (p *xparser) parseOr() (Expr, error) {
	return p.binary([]string{"or"}, p.parseAnd)
}

func (p *xparser) parseAnd() (Expr, error) {
	return p.binary([]string{"and"}, p.parseEq)
}

func (p *xparser) parseEq() (Expr, error) {
	return p.binary([]string{"=", "!="}, p.parseRel)
}

func (p *xparser) parseRel() (Expr, error) {
	return p.binary([]string{"<=", ">=", "<", ">"}, p.parseAdd)
}

func (p *xparser) parseAdd() (Expr, error) {
	return p.binary([]string{"+", "-"}, p.parseMul)
}

func (p *xparser) parseMul() (Expr, error) {
	return p.binary([]string{"*", "div", "mod"}, p.parseUnary)
}

func (p *xparser) binary(ops []string, next func() (Expr, error)) (Expr, error) {
	l, err := next()
	if err != nil {
		return nil, err
	}
	for {
		matched := ""
		for _, op := range ops {
			if p.isOp(op) || p.isWord(op) {
				matched = op
				break
			}
		}
		if matched == "" {
			return l, nil
		}
		p.pos++
		r, err := next()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: matched, l: l, r: r}
	}
}

type negExpr struct{ e Expr }

func (n *negExpr) contextFree() bool { return n.e.contextFree() }

func (p *xparser) parseUnary() (Expr, error) {
	if p.isOp("-") {
		p.pos++
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &negExpr{e}, nil
	}
	return p.parseUnion()
}

type unionExpr struct{ l, r Expr }

func (u *unionExpr) contextFree() bool { return u.l.contextFree() && u.r.contextFree() }

func (p *xparser) parseUnion() (Expr, error) {
	l, err := p.parsePathExpr()
	if err != nil {
		return nil, err
	}
	for p.isOp("|") {
		p.pos++
		r, err := p.parsePathExpr()
		if err != nil {
			return nil, err
		}
		l = &unionExpr{l, r}
	}
	return l, nil
}

// PathExpr is a location path, optionally starting from a filter expression
// such as current().
type PathExpr struct {
	Abs    bool
	Filter Expr // primary expression the steps start from, or nil
	Steps  []Step
}

// StepKind says how a step moves.
type StepKind int

const (
	StepChild StepKind = iota
	StepParent
	StepSelf
)

// Step is one location step.
type Step struct {
	Kind  StepKind
	Name  string // local name, "*" for any
	Preds []Expr
}

type literal struct{ v xval }

func (literal) contextFree() bool { return true }

type funcCall struct {
	name string
	args []Expr
}

func (f *funcCall) contextFree() bool {
	switch f.name {
	case "current", "true", "false":
		return true
	case "last", "position":
		return false
	}
	if len(f.args) == 0 {
		return false // string(), number() etc. read the context node
	}
	for _, a := range f.args {
		if !a.contextFree() {
			return false
		}
	}
	return true
}

var xfuncs = map[string][2]int{ // min, max args (-1 = any)
	"current": {0, 0}, "count": {1, 1}, "not": {1, 1}, "true": {0, 0}, "false": {0, 0},
	"string": {0, 1}, "number": {0, 1}, "boolean": {1, 1}, "concat": {2, -1},
	"contains": {2, 2}, "starts-with": {2, 2}, "string-length": {0, 1}, "sum": {1, 1},
	"normalize-space": {0, 1},
}

func (p *xparser) parsePathExpr() (Expr, error) {
	t := p.peek()
	if t == nil {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	pe := &PathExpr{}
	switch {
	case t.kind == tLit:
		p.pos++
		return literal{t.text}, nil
	case t.kind == tNum:
		p.pos++
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t.text)
		}
		return literal{f}, nil
	case t.kind == tOp && t.text == "(":
		p.pos++
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if !p.isOp(")") {
			return nil, fmt.Errorf("missing ')'")
		}
		p.pos++
		pe.Filter = e
	case t.kind == tName && p.pos+1 < len(p.toks) && p.toks[p.pos+1].text == "(" && p.toks[p.pos+1].kind == tOp:
		name := t.text
		lim, ok := xfuncs[name]
		if !ok {
			return nil, fmt.Errorf("unsupported XPath function %s()", name)
		}
		p.pos += 2
		fc := &funcCall{name: name}
		for !p.isOp(")") {
			a, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			fc.args = append(fc.args, a)
			if p.isOp(",") {
				p.pos++
			} else if !p.isOp(")") {
				return nil, fmt.Errorf("expected ',' or ')' in %s()", name)
			}
		}
		p.pos++
		if len(fc.args) < lim[0] || (lim[1] >= 0 && len(fc.args) > lim[1]) {
			return nil, fmt.Errorf("%s() takes %d..%d arguments", name, lim[0], lim[1])
		}
		if name != "current" || p.isOp("[") || p.isOp("/") {
			pe.Filter = fc
		} else {
			return fc, nil
		}
	case t.kind == tOp && t.text == "/":
		p.pos++
		pe.Abs = true
		if nt := p.peek(); nt == nil || !(nt.kind == tName || nt.text == "." || nt.text == "..") {
			return pe, nil
		}
		if err := p.parseSteps(pe); err != nil {
			return nil, err
		}
		return pe, nil
	default:
		if err := p.parseSteps(pe); err != nil {
			return nil, err
		}
		return pe, nil
	}
	// A filter expression: predicates, then optional steps.
	if p.isOp("[") {
		return nil, fmt.Errorf("predicates on a filter expression are not supported")
	}
	if p.isOp("/") {
		p.pos++
		if err := p.parseSteps(pe); err != nil {
			return nil, err
		}
		return pe, nil
	}
	return pe.Filter, nil
}

func (p *xparser) parseSteps(pe *PathExpr) error {
	for {
		t := p.peek()
		if t == nil {
			return fmt.Errorf("path ends with '/'")
		}
		var st Step
		switch {
		case t.kind == tOp && t.text == "..":
			st.Kind = StepParent
		case t.kind == tOp && t.text == ".":
			st.Kind = StepSelf
		case t.kind == tName:
			st.Kind = StepChild
			st.Name = t.text
			if i := strings.IndexByte(st.Name, ':'); i >= 0 {
				st.Name = st.Name[i+1:]
			}
		default:
			return fmt.Errorf("unexpected %q in path", t.text)
		}
		p.pos++
		for p.isOp("[") {
			p.pos++
			e, err := p.parseOr()
			if err != nil {
				return err
			}
			if !p.isOp("]") {
				return fmt.Errorf("missing ']'")
			}
			p.pos++
			st.Preds = append(st.Preds, e)
		}
		pe.Steps = append(pe.Steps, st)
		if !p.isOp("/") {
			return nil
		}
		p.pos++
	}
}

func (pe *PathExpr) contextFree() bool {
	if pe.Abs {
		return true
	}
	if pe.Filter != nil {
		return pe.Filter.contextFree()
	}
	return false
}

// String renders the path (for messages).
func (pe *PathExpr) String() string {
	var b strings.Builder
	if pe.Abs {
		b.WriteByte('/')
	}
	if pe.Filter != nil {
		b.WriteString("current()/")
	}
	for i, s := range pe.Steps {
		if i > 0 {
			b.WriteByte('/')
		}
		switch s.Kind {
		case StepParent:
			b.WriteString("..")
		case StepSelf:
			b.WriteString(".")
		default:
			b.WriteString(s.Name)
		}
		for range s.Preds {
			b.WriteString("[…]")
		}
	}
	return b.String()
}

// SplitKeyTarget splits a leafref path ending in "list/key" into the path to
// the list's parent and the two names, for keyed target lookups.
func (pe *PathExpr) SplitKeyTarget() (parent *PathExpr, list, key string, ok bool) {
	n := len(pe.Steps)
	if n < 2 {
		return nil, "", "", false
	}
	l, k := pe.Steps[n-2], pe.Steps[n-1]
	if l.Kind != StepChild || k.Kind != StepChild || len(l.Preds) > 0 || len(k.Preds) > 0 {
		return nil, "", "", false
	}
	return &PathExpr{Abs: pe.Abs, Filter: pe.Filter, Steps: pe.Steps[:n-2]}, l.Name, k.Name, true
}

// ---- evaluation

func (l literal) eval(*evalCtx) (xval, error) { return l.v, nil }

func (n *negExpr) eval(c *evalCtx) (xval, error) {
	v, err := n.e.eval(c)
	if err != nil {
		return nil, err
	}
	return -toNumber(v), nil
}

func (u *unionExpr) eval(c *evalCtx) (xval, error) {
	l, err := u.l.eval(c)
	if err != nil {
		return nil, err
	}
	r, err := u.r.eval(c)
	if err != nil {
		return nil, err
	}
	ln, ok1 := l.(nodeSet)
	rn, ok2 := r.(nodeSet)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("'|' needs node-sets")
	}
	return dedup(append(append(nodeSet{}, ln...), rn...)), nil
}

func (b *binExpr) eval(c *evalCtx) (xval, error) {
	l, err := b.l.eval(c)
	if err != nil {
		return nil, err
	}
	switch b.op {
	case "or":
		if toBool(l) {
			return true, nil
		}
		r, err := b.r.eval(c)
		if err != nil {
			return nil, err
		}
		return toBool(r), nil
	case "and":
		if !toBool(l) {
			return false, nil
		}
		r, err := b.r.eval(c)
		if err != nil {
			return nil, err
		}
		return toBool(r), nil
	}
	r, err := b.r.eval(c)
	if err != nil {
		return nil, err
	}
	switch b.op {
	case "=", "!=", "<", "<=", ">", ">=":
		return compare(b.op, l, r), nil
	case "+":
		return toNumber(l) + toNumber(r), nil
	case "-":
		return toNumber(l) - toNumber(r), nil
	case "*":
		return toNumber(l) * toNumber(r), nil
	case "div":
		return toNumber(l) / toNumber(r), nil
	case "mod":
		return math.Mod(toNumber(l), toNumber(r)), nil
	}
	return nil, fmt.Errorf("unknown operator %s", b.op)
}

func (f *funcCall) eval(c *evalCtx) (xval, error) {
	args := make([]xval, len(f.args))
	for i, a := range f.args {
		v, err := a.eval(c)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	ctxOrArg := func() xval {
		if len(args) > 0 {
			return args[0]
		}
		return nodeSet{c.node}
	}
	switch f.name {
	case "current":
		return nodeSet{c.current}, nil
	case "count":
		ns, ok := args[0].(nodeSet)
		if !ok {
			return nil, fmt.Errorf("count() needs a node-set")
		}
		return float64(len(ns)), nil
	case "sum":
		ns, ok := args[0].(nodeSet)
		if !ok {
			return nil, fmt.Errorf("sum() needs a node-set")
		}
		s := 0.0
		for _, n := range ns {
			s += toNumber(nodeString(n))
		}
		return s, nil
	case "not":
		return !toBool(args[0]), nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "boolean":
		return toBool(args[0]), nil
	case "string":
		return toString(ctxOrArg()), nil
	case "number":
		return toNumber(ctxOrArg()), nil
	case "string-length":
		return float64(len([]rune(toString(ctxOrArg())))), nil
	case "normalize-space":
		return strings.Join(strings.Fields(toString(ctxOrArg())), " "), nil
	case "concat":
		var b strings.Builder
		for _, a := range args {
			b.WriteString(toString(a))
		}
		return b.String(), nil
	case "contains":
		return strings.Contains(toString(args[0]), toString(args[1])), nil
	case "starts-with":
		return strings.HasPrefix(toString(args[0]), toString(args[1])), nil
	}
	return nil, fmt.Errorf("unsupported function %s()", f.name)
}

func (pe *PathExpr) eval(c *evalCtx) (xval, error) {
	var cur nodeSet
	switch {
	case pe.Filter != nil:
		v, err := pe.Filter.eval(c)
		if err != nil {
			return nil, err
		}
		ns, ok := v.(nodeSet)
		if !ok {
			return nil, fmt.Errorf("a path step needs a node-set")
		}
		cur = ns
	case pe.Abs:
		cur = nodeSet{c.node.Root()}
	default:
		cur = nodeSet{c.node}
	}
	for i := range pe.Steps {
		next, err := pe.Steps[i].apply(cur, c)
		if err != nil {
			return nil, err
		}
		cur = next
		if len(cur) == 0 {
			break
		}
	}
	return cur, nil
}

func (s *Step) apply(in nodeSet, c *evalCtx) (nodeSet, error) {
	var out nodeSet
	for _, n := range in {
		switch s.Kind {
		case StepSelf:
			out = append(out, n)
			continue
		case StepParent:
			if p := n.Parent(); p != nil {
				out = append(out, p)
			}
			continue
		}
		sch := n.Schema()
		var kids []*Node
		if s.Name == "*" {
			kids = sch.Children
		} else if k := sch.Child(s.Name); k != nil {
			kids = []*Node{k}
		}
		for _, k := range kids {
			cands, done, err := s.keyed(n, k, c)
			if err != nil {
				return nil, err
			}
			if !done {
				cands = n.Children(k)
			}
			filtered, err := s.filter(cands, c, done)
			if err != nil {
				return nil, err
			}
			out = append(out, filtered...)
		}
	}
	if len(in) > 1 && s.Kind == StepParent {
		out = dedup(out)
	}
	return out, nil
}

// keyed evaluates a first predicate of the form [key = context-free-expr] on
// a single-key list as direct lookups.
func (s *Step) keyed(n DataNode, list *Node, c *evalCtx) (nodeSet, bool, error) {
	if list.Kind != List || len(list.Keys) != 1 || len(s.Preds) == 0 {
		return nil, false, nil
	}
	be, ok := s.Preds[0].(*binExpr)
	if !ok || be.op != "=" {
		return nil, false, nil
	}
	lp, ok := be.l.(*PathExpr)
	if !ok || lp.Abs || lp.Filter != nil || len(lp.Steps) != 1 || lp.Steps[0].Kind != StepChild ||
		lp.Steps[0].Name != list.Keys[0] || len(lp.Steps[0].Preds) > 0 || !be.r.contextFree() {
		return nil, false, nil
	}
	v, err := be.r.eval(c)
	if err != nil {
		return nil, false, err
	}
	var keys []string
	switch x := v.(type) {
	case nodeSet:
		for _, m := range x {
			keys = append(keys, nodeString(m))
		}
	default:
		keys = []string{toString(x)}
	}
	var out nodeSet
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if e := n.Entry(list, []string{k}); e != nil {
			out = append(out, e)
		}
	}
	return out, true, nil
}

func (s *Step) filter(cands nodeSet, c *evalCtx, firstDone bool) (nodeSet, error) {
	preds := s.Preds
	if firstDone {
		preds = preds[1:]
	}
	for _, pr := range preds {
		var kept nodeSet
		for i, cand := range cands {
			v, err := pr.eval(&evalCtx{node: cand, current: c.current})
			if err != nil {
				return nil, err
			}
			if f, isNum := v.(float64); isNum {
				if int(f) == i+1 {
					kept = append(kept, cand)
				}
				continue
			}
			if toBool(v) {
				kept = append(kept, cand)
			}
		}
		cands = kept
	}
	return cands, nil
}

func dedup(ns nodeSet) nodeSet {
	seen := make(map[string]bool, len(ns))
	out := ns[:0:0]
	for _, n := range ns {
		id := n.ID()
		if !seen[id] {
			seen[id] = true
			out = append(out, n)
		}
	}
	return out
}

func nodeString(n DataNode) string {
	switch n.Schema().Kind {
	case Leaf, LeafList:
		return Format(n.Value())
	}
	return ""
}

func toBool(v xval) bool {
	switch x := v.(type) {
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	case nodeSet:
		return len(x) > 0
	}
	return false
}

func toString(v xval) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nodeSet:
		if len(x) == 0 {
			return ""
		}
		return nodeString(x[0])
	}
	return ""
}

func toNumber(v xval) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return math.NaN()
		}
		return f
	case nodeSet:
		return toNumber(toString(x))
	}
	return math.NaN()
}

// compare implements XPath 1.0 comparison, including the existential
// semantics of node-sets.
func compare(op string, l, r xval) bool {
	ln, lIsSet := l.(nodeSet)
	rn, rIsSet := r.(nodeSet)
	switch {
	case lIsSet && rIsSet:
		for _, a := range ln {
			for _, b := range rn {
				if compareAtoms(op, nodeString(a), nodeString(b)) {
					return true
				}
			}
		}
		return false
	case lIsSet:
		if b, ok := r.(bool); ok {
			return compareAtoms(op, toBool(l), b)
		}
		for _, a := range ln {
			if compareAtoms(op, atomLike(nodeString(a), r), r) {
				return true
			}
		}
		return false
	case rIsSet:
		if b, ok := l.(bool); ok {
			return compareAtoms(op, b, toBool(r))
		}
		for _, b := range rn {
			if compareAtoms(op, l, atomLike(nodeString(b), l)) {
				return true
			}
		}
		return false
	}
	return compareAtoms(op, l, r)
}

func atomLike(s string, other xval) xval {
	if _, ok := other.(float64); ok {
		return toNumber(s)
	}
	return s
}

func compareAtoms(op string, l, r xval) bool {
	switch op {
	case "=", "!=":
		var eq bool
		switch {
		case isBool(l) || isBool(r):
			eq = toBool(l) == toBool(r)
		case isNum(l) || isNum(r):
			eq = toNumber(l) == toNumber(r)
		default:
			eq = toString(l) == toString(r)
		}
		return eq == (op == "=")
	}
	a, b := toNumber(l), toNumber(r)
	switch op {
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

func isBool(v xval) bool { _, ok := v.(bool); return ok }
func isNum(v xval) bool  { _, ok := v.(float64); return ok }
