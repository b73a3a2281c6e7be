package rest

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// model serves every model path: /{prefix}/v{version}/{tenant}/… of a
// tenant set, /{prefix}/v{version}/… of a global set.
func (s *Server) model(w http.ResponseWriter, r *http.Request) error {
	path := r.URL.Path
	route, err := s.sch.ParseRoute(r.URL.EscapedPath())
	if err != nil {
		return err
	}
	if route.Set == nil {
		return schema.Errorf(schema.KindNotFound, path, "no such model path")
	}
	set, target, rest := route.Set, route.Tenant, route.Data
	info(r.Context()).set = set
	for _, l := range compat.Of(s.compat, set) {
		if l.CheckTenant == nil || set.Global() {
			continue
		}
		if err := l.CheckTenant(path, target); err != nil {
			return err
		}
	}
	if r.Method == http.MethodGet && len(rest) > 1 && rest[len(rest)-1] == "values" {
		if loc, err := schema.Resolve(set, target, rest[:len(rest)-1]); err == nil && loc.Node.Kind == schema.Leaf && (loc.Node.Type.Base == schema.TLeafref || loc.Node.Ref != nil) {
			return s.leafrefValues(w, r, loc)
		}
	}
	loc, err := schema.Resolve(set, target, rest)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		// A global set's top-level list has no owner: a caller who may not
		// read it whole but holds a role that lists (as /models, filtered
		// item by item like every listing) is shown the entries it may
		// read (list); anyone else is refused as for any path.
		if !globalList(loc) || s.canRead(r, loc.REST()) || !s.canRead(r, "/models") {
			if err := s.authorize(r, auth.Read, loc.REST()); err != nil {
				return err
			}
		}
		return s.get(w, r, loc)
	}
	info(r.Context()).touch(loc.REST())
	if err := s.authorize(r, auth.Write, loc.REST()); err != nil {
		return err
	}
	if !loc.Node.Config {
		return schema.Errorf(schema.KindInvalid, loc.REST(), "%q is read-only operational state", loc.Node.Name)
	}
	return s.write(w, r, loc)
}

func (s *Server) snapshotFor(r *http.Request, loc *schema.Location) (*config.Snapshot, error) {
	at, hasAt, err := queryUint(r, "at")
	if err != nil {
		return nil, err
	}
	snap := s.eng.Snapshot()
	if hasAt {
		snap, err = s.eng.At(at, schema.RootKey(loc.Set, loc.Tenant)+"/")
		if err != nil {
			return nil, s.hideIndex(r, err, "?at", "no transaction %d", at)
		}
	}
	if !loc.Set.Global() && !snap.TargetExists(loc.Tenant) {
		return nil, tenantMissing(loc.Set, loc.Tenant)
	}
	return snap.ReadThrough(loc) // a migrated version reads through its migration
}

// tenantMissing answers a path under a tenant that does not exist; when
// the "tenant" is the name of a top-level node, the path most likely left
// the tenant out, and the reason says so.
func tenantMissing(set *schema.ModelSet, id string) error {
	if set.Root.Child(id) != nil {
		return schema.Errorf(schema.KindNotFound, schema.RESTPrefix(set, id), "enterprise %q does not exist (model set %s is per tenant: its paths are %s/{%s}/%s/…)", id, set.Name, schema.RESTBase(set), tenant.IDField, id)
	}
	return schema.Errorf(schema.KindNotFound, schema.RESTPrefix(set, id), "enterprise %q does not exist", id)
}

func (s *Server) encodeOpts(r *http.Request) (schema.EncodeOptions, error) {
	var o schema.EncodeOptions
	switch enc := r.URL.Query().Get("encoding"); enc {
	case "", "plain":
	case "rfc7951":
		// RFC 7951 JSON: module-qualified names, 64-bit numbers as strings,
		// configuration only: valid instance data for YANG tools.
		o.RFC7951, o.ConfigOnly = true, true
	default:
		return o, schema.Errorf(schema.KindInvalid, "?encoding", "%q is not plain or rfc7951", enc)
	}
	switch wd := r.URL.Query().Get("with-defaults"); wd {
	case "", "explicit":
	case "report-all":
		o.WithDefaults = true
	default:
		return o, schema.Errorf(schema.KindInvalid, "?with-defaults", "%q is not report-all or explicit", wd)
	}
	return o, nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, loc *schema.Location) error {
	snap, err := s.snapshotFor(r, loc)
	if err != nil {
		return err
	}
	opts, err := s.encodeOpts(r)
	if err != nil {
		return err
	}
	if s.seesAllHistory(r) {
		w.Header().Set("X-AMP-Index", strconv.FormatUint(snap.Index, 10))
	}
	if loc.Collection {
		return s.list(w, r, snap, loc, opts)
	}
	obj, ok := snap.Object(loc)
	if !ok {
		return schema.Errorf(schema.KindNotFound, loc.REST(), "%s %q does not exist", loc.Object.Name, strings.Join(loc.Keys, ","))
	}
	tree, ver := snap.Tree(obj)
	var val any = tree
	if len(loc.Inner) > 0 {
		v, ok := schema.Lookup(tree, loc.Inner)
		if !ok {
			return schema.Errorf(schema.KindNotFound, loc.REST(), "%q is not set", loc.Node.Name)
		}
		val = v
	}
	w.Header().Set("ETag", etag(ver))
	return writeJSON(w, http.StatusOK, schema.Encode(loc.Node, val, opts))
}

func etag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

// filter is one ?filter= of a list read: leaf=value keeps the entries
// whose leaf equals value, leaf^=value those whose leaf starts with it
// (an IMSI prefix, a name prefix).
type filter struct {
	path   []string
	value  string
	prefix bool
	leaf   *schema.Node
}

func parseFilters(r *http.Request, list *schema.Node) ([]filter, error) {
	var out []filter
	for _, f := range r.URL.Query()["filter"] {
		lp, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, schema.Errorf(schema.KindInvalid, "?filter", "%q is not leaf=value or leaf^=prefix", f)
		}
		lp, prefix := strings.CutSuffix(lp, "^")
		parts, n, err := listLeaf(list, lp, "?filter", true)
		if err != nil {
			return nil, err
		}
		out = append(out, filter{path: parts, value: val, prefix: prefix, leaf: n})
	}
	return out, nil
}

// listLeaf resolves lp, a leaf path relative to an entry of list, for
// the query parameter param (its name in the error); a leaf-list only
// when leafLists.
func listLeaf(list *schema.Node, lp, param string, leafLists bool) ([]string, *schema.Node, error) {
	n := list
	parts := strings.Split(lp, "/")
	for _, p := range parts {
		if n = n.Child(p); n == nil || n.Kind == schema.List {
			return nil, nil, schema.Errorf(schema.KindInvalid, param, "%q is not a leaf of %s", lp, list.Name)
		}
	}
	if n.Kind != schema.Leaf && !(leafLists && n.Kind == schema.LeafList) {
		return nil, nil, schema.Errorf(schema.KindInvalid, param, "%q is not a leaf of %s", lp, list.Name)
	}
	return parts, n, nil
}

func (f filter) match(data map[string]any) bool {
	v, ok := schema.Lookup(data, f.path)
	if !ok {
		if len(f.leaf.Default) > 0 {
			return f.is(f.leaf.Default[0])
		}
		return false
	}
	if items, isList := v.([]any); isList {
		for _, it := range items {
			if f.is(schema.Format(it)) {
				return true
			}
		}
		return false
	}
	return f.is(schema.Format(v))
}

func hasStateFilter(fs []filter) bool {
	for _, f := range fs {
		if !f.leaf.Config {
			return true
		}
	}
	return false
}

func (f filter) is(v string) bool {
	if f.prefix {
		return strings.HasPrefix(v, f.value)
	}
	return v == f.value
}

// globalList reports whether loc is a top-level list of a global set:
// its entries may be tied to different tenants (ampx:tenant).
func globalList(loc *schema.Location) bool {
	return loc.Collection && loc.Set.Global() && loc.Object.Kind == schema.Root
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, snap *config.Snapshot, loc *schema.Location, opts schema.EncodeOptions) error {
	// A caller who may not read a global list whole (an enterprise role)
	// is shown the entries it may read: those tied to its enterprise.
	entryByEntry := globalList(loc) && !s.canRead(r, loc.REST())
	limit, hasLimit, err := queryUint(r, "limit")
	if err != nil {
		return err
	}
	if hasLimit && limit == 0 {
		return schema.Errorf(schema.KindInvalid, "?limit", "limit must be at least 1")
	}
	cont := ""
	if c := r.URL.Query().Get("continue"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			return errBadContinue
		}
		cont = string(b)
	}
	filters, err := parseFilters(r, loc.Node)
	if err != nil {
		return err
	}
	ord, err := parseOrder(r, loc.Node)
	if err != nil {
		return err
	}
	if loc.Object.Kind != schema.Root {
		if _, ok := snap.Object(loc); !ok {
			return schema.Errorf(schema.KindNotFound, loc.REST(), "%s does not exist", schema.RESTPathOfKey(loc.Set, loc.ObjectKey, nil, false, nil))
		}
	}
	// each entry the caller may read that passes the filters, in key
	// order from after; stop ends the walk. A filter on configuration
	// reads the entry's own data, so an entry it drops costs no tree
	// (its child lists, its state): with 100,000 SIM cards that is most.
	walk := func(after string, fn func(o *config.Object) (stop bool)) {
		snap.Entries(loc.ObjectKey, loc.Inner, loc.Node, after, func(o *config.Object) bool {
			if entryByEntry && !s.canReadEntry(r, snap, loc.Set, o) {
				return true
			}
			for _, f := range filters {
				if f.leaf.Config && !f.match(o.Data) {
					return true
				}
			}
			return !fn(o)
		})
	}
	// state filters read the whole tree
	passes := func(tree map[string]any) bool {
		for _, f := range filters {
			if !f.leaf.Config && !f.match(tree) {
				return false
			}
		}
		return true
	}
	items := []any{}
	var ver uint64
	add := func(tree map[string]any, v uint64) {
		ver = max(ver, v)
		items = append(items, schema.Encode(loc.Node, tree, opts))
	}
	next := ""
	if ord == nil {
		// key order: the walk stops once the page is full
		walk(cont, func(o *config.Object) bool {
			if hasLimit && uint64(len(items)) == limit {
				next = cont
				return true
			}
			if tree, v := snap.Tree(o); passes(tree) {
				cont = config.EntrySegments(o)
				add(tree, v)
			}
			return false
		})
	} else {
		// another order: every entry that passes is placed, then the page
		// cut; only the page's entries are read whole
		var all []sortedEntry
		walk("", func(o *config.Object) bool {
			data := o.Data
			if !ord.leaf.Config || hasStateFilter(filters) {
				tree, _ := snap.Tree(o)
				if !passes(tree) {
					return false
				}
				data = tree
			}
			all = append(all, sortedEntry{key: ord.key(data, config.EntrySegments(o)), obj: o})
			return false
		})
		page, tok, err := ord.page(all, cont, limit, hasLimit)
		if err != nil {
			return err
		}
		for _, e := range page {
			add(snap.Tree(e.obj))
		}
		if tok != "" {
			w.Header().Set("X-AMP-Continue", tok)
		}
	}
	if next != "" {
		w.Header().Set("X-AMP-Continue", base64.RawURLEncoding.EncodeToString([]byte(next)))
	}
	w.Header().Set("ETag", etag(ver))
	return writeJSON(w, http.StatusOK, items)
}

func (s *Server) leafrefValues(w http.ResponseWriter, r *http.Request, loc *schema.Location) error {
	if err := s.authorize(r, auth.Read, loc.REST()); err != nil {
		return err
	}
	snap, err := s.snapshotFor(r, loc)
	if err != nil {
		return err
	}
	if loc.Node.Ref != nil {
		return writeJSON(w, http.StatusOK, map[string]any{"values": s.refChoices(r, snap, loc)})
	}
	vals, err := snap.LeafrefValues(loc)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"values": vals})
}

// refChoices lists the entries an ampx:refers-to leaf may name that the
// caller may read: they come from another set or, for a global object,
// from the tenant it names. Within one tenant the list is readable or not
// as a whole; the entries of a global set are checked one by one unless
// the whole list is readable, since the policy may let a caller read only
// the global objects tied to its enterprise.
func (s *Server) refChoices(r *http.Request, snap *config.Snapshot, loc *schema.Location) []string {
	from, vals := snap.RefChoices(loc)
	switch {
	case from == "":
		return vals
	case s.canRead(r, from):
		return vals
	case !loc.Node.Ref.Global():
		return []string{}
	}
	shown := []string{}
	for _, v := range vals {
		if s.canRead(r, from+"/"+schema.EscapeSegment(v)) {
			shown = append(shown, v)
		}
	}
	return shown
}

// ifMatch parses an If-Match header holding one of our ETags.
func ifMatch(r *http.Request) (*uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return nil, nil
	}
	h = strings.TrimPrefix(h, "W/")
	v, err := strconv.ParseUint(strings.Trim(h, `"`), 10, 64)
	if err != nil {
		return nil, schema.Errorf(schema.KindInvalid, "If-Match", "%q is not an ETag from this API", r.Header.Get("If-Match"))
	}
	return &v, nil
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, loc *schema.Location) error {
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return err
	}
	im, err := ifMatch(r)
	if err != nil {
		return err
	}
	ed := config.Edit{Loc: loc, IfMatch: im}
	code := http.StatusOK
	if r.Method != http.MethodDelete {
		body, err := readJSON(r)
		if err != nil {
			return err
		}
		opts := schema.DecodeOptions{OmitKeysOK: true}
		layers := compat.Of(s.compat, loc.Set)
		switch r.Method {
		case http.MethodPost:
			for _, l := range layers {
				opts.AdditionalProperties = opts.AdditionalProperties || l.AdditionalProperties
			}
			ed.Op, code = config.OpMerge, http.StatusCreated
		case http.MethodPut:
			ed.Op = config.OpReplace
		case http.MethodPatch:
			// The body is read as a JSON merge patch whatever the type says
			// (curl -d sends form-urlencoded); only RFC 6902 JSON Patch,
			// which means something else, is refused.
			if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json-patch+json") {
				return schema.Errorf(schema.KindInvalid, "Content-Type", "JSON Patch (RFC 6902) is not supported: send a JSON merge patch (RFC 7386, application/merge-patch+json)")
			}
			opts.NullDeletes = true
			ed.Op = config.OpMerge
		}
		asEntry := !loc.Collection
		val, err := schema.DecodeJSON(loc.Node, body, loc.REST(), asEntry, opts)
		if err != nil {
			return err
		}
		for _, l := range layers {
			if r.Method != http.MethodPost || l.CheckPost == nil {
				continue
			}
			if err := l.CheckPost(loc.Node, val, loc.REST(), loc.Collection); err != nil {
				return err
			}
		}
		ed.Value = val
	} else {
		ed.Op = config.OpDelete
	}
	wo, err := parseWait(r)
	if err != nil {
		return err
	}
	res, err := s.eng.Submit(r.Context(), s.request(r, dry, ed))
	if err != nil {
		return err
	}
	return s.respondWrite(w, r, wo, res, code)
}

func (s *Server) request(r *http.Request, dry bool, edits ...config.Edit) *config.Request {
	src := "api"
	switch h := r.Header.Get("X-AMP-Source"); h {
	case "cli", "import":
		src = h
	}
	msg := r.Header.Get("X-AMP-Message")
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	req := &config.Request{Edits: edits, Principal: principalName(r.Context()), Address: r.RemoteAddr, Source: src, Message: msg, DryRun: dry}
	if p := auth.FromContext(r.Context()); p != nil {
		req.Groups = p.Groups
	}
	return req
}

// respondResult answers a write: the transaction id
// as a JSON string, with the index in a header; a dry run returns the diff.
func respondResult(w http.ResponseWriter, r *http.Request, res *config.Result, code int) error {
	if res.DryRun {
		return writeJSON(w, http.StatusOK, map[string]any{"dry-run": true, "changes": nonNil(res.Changes)})
	}
	setTxnHeaders(w, r, res)
	return writeJSON(w, code, res.ID)
}

// setTxnHeaders names the transaction a write committed, to the client and
// in the request's record (for the audit trail). A write that changed
// nothing names the current index and says it is unchanged, so a client
// does not take the transaction before it for its own.
func setTxnHeaders(w http.ResponseWriter, r *http.Request, res *config.Result) {
	info(r.Context()).committed(res.Index, res.Unchanged)
	w.Header().Set("X-AMP-Transaction-Index", strconv.FormatUint(res.Index, 10))
	if res.Unchanged {
		w.Header().Set("X-AMP-Transaction-Unchanged", "true")
		return
	}
	w.Header().Set("X-AMP-Transaction-Id", res.ID)
}

func nonNil(c []config.Change) []config.Change {
	if c == nil {
		return []config.Change{}
	}
	return c
}
