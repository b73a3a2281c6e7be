// Package policy decides "may this principal do this to that path" with Open
// Policy Agent's Rego, evaluated in process with a prepared query. The policy
// is configuration-as-code: Rego files, by default the ones embedded from the
// repository's policy/ directory, or a directory named in the configuration,
// reloaded without restart (Watch: a poll every 2 s and SIGHUP).
//
// An *Engine implements auth.Authorizer, so REST, gNMI and the CLI share one
// decision point. It decides on typed resources (auth.Resource, classified
// by the one path grammar, schema.ParseRoute): it never parses paths.
package policy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/amp-edge/amp/internal/auth"
	defaultpolicy "github.com/amp-edge/amp/policy"
)

// Query is the rule every policy must define: an object
// {"allow": bool, "deny": set of reasons}.
const Query = "data.amp.authz.decision"

// Engine evaluates the policy. It is safe for concurrent use; Reload swaps
// the compiled policy atomically.
type Engine struct {
	mu      sync.Mutex // serialises Reload
	fsys    fs.FS
	cur     atomic.Pointer[compiled]
	log     *slog.Logger
	noCache atomic.Bool
}

type compiled struct {
	pq    rego.PreparedEvalQuery
	files []string
	sum   [32]byte // of the files' names and contents
	cache *decisionCache
	use   inputUse // the input fields the policy reads: the cache key
}

// Default loads the policy embedded in the binary (the repository's policy/).
func Default() (*Engine, error) { return Load(defaultpolicy.FS) }

// LoadDir loads the *.rego files of a directory.
func LoadDir(dir string) (*Engine, error) { return Load(os.DirFS(dir)) }

// Load compiles the *.rego files at the top of fsys (files ending in
// _test.rego are unit tests and are left out).
func Load(fsys fs.FS) (*Engine, error) {
	e := &Engine{fsys: fsys, log: slog.Default()}
	if err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// SetLogger sets where reloads are reported.
func (e *Engine) SetLogger(l *slog.Logger) { e.log = l }

// Files returns the policy files in use.
func (e *Engine) Files() []string { return slices.Clone(e.cur.Load().files) }

// readModules returns name -> source of the policy files (tests included
// when withTests) and a digest of them.
func readModules(fsys fs.FS, withTests bool) (map[string]string, [32]byte, error) {
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return nil, [32]byte{}, err
	}
	sort.Strings(names)
	mods := map[string]string{}
	h := sha256.New()
	for _, n := range names {
		if !withTests && strings.HasSuffix(n, "_test.rego") {
			continue
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, [32]byte{}, err
		}
		mods[n] = string(b)
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	if len(mods) == 0 {
		return nil, [32]byte{}, errors.New("policy: no .rego files")
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return mods, sum, nil
}

// Reload re-reads and recompiles the policy files. On any error the policy
// in force stays in force.
func (e *Engine) Reload() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reload(false)
}

func (e *Engine) reload(onlyIfChanged bool) error {
	mods, sum, err := readModules(e.fsys, false)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if cur := e.cur.Load(); onlyIfChanged && cur != nil && cur.sum == sum {
		return nil
	}
	opts := []func(*rego.Rego){rego.Query(Query)}
	var files []string
	var parsed []*ast.Module
	for n, src := range mods {
		m, err := ast.ParseModule(n, src)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		parsed = append(parsed, m)
		opts = append(opts, rego.ParsedModule(m))
		files = append(files, n)
	}
	sort.Strings(files)
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		return fmt.Errorf("policy: compile %s: %w", strings.Join(files, ", "), err)
	}
	c := &compiled{pq: pq, files: files, sum: sum, cache: newDecisionCache(e.cacheSize()), use: analyseInputUse(parsed)}
	// A policy that does not answer the decision query is a mistake: try it.
	if _, err := decide(context.Background(), c, &auth.Principal{Name: "policy-check"}, auth.Read, auth.Resource{Kind: "other", Path: "/", Canonical: true}); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	prev := e.cur.Swap(c)
	if prev != nil && e.log != nil {
		e.log.Info("policy reloaded", "files", files)
	}
	return nil
}

// PollInterval is how often Watch looks for changed policy files.
const PollInterval = 2 * time.Second

// Watch loads the policy from dir and keeps it current until ctx ends:
// the files are polled every PollInterval (a change is compiled and swapped
// in; a broken policy is reported and the previous one kept) and SIGHUP
// forces a reload.
func (e *Engine) Watch(ctx context.Context, dir string) error {
	e.mu.Lock()
	e.fsys = os.DirFS(dir)
	err := e.reload(true)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		t := time.NewTicker(PollInterval)
		defer t.Stop()
		var lastErr string
		for {
			force := false
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-hup:
				force = true
			}
			e.mu.Lock()
			err := e.reload(!force)
			e.mu.Unlock()
			if err != nil && err.Error() != lastErr && e.log != nil {
				e.log.Error("policy reload failed; the previous policy stays in force", "dir", dir, "err", err)
			}
			lastErr = ""
			if err != nil {
				lastErr = err.Error()
			}
		}
	}()
	return nil
}

// Decision is the outcome of one evaluation.
type Decision struct {
	Allow bool
	// Deny lists the reasons of the deny rules that matched.
	Deny []string
}

// Input returns the policy input for a request (exported for tests and
// for `amp policy eval`-style tooling); inputValue builds the same input
// for evaluation. docs/policy.md documents it.
func Input(p *auth.Principal, action auth.Action, res auth.Resource) map[string]any {
	in := map[string]any{"action": string(action), "path": res.Path}
	pr := map[string]any{"name": "", "groups": []any{}, "rights": []any{}, "via": ""}
	if p != nil {
		gs := make([]any, len(p.Groups))
		for i, g := range p.Groups {
			gs[i] = g
		}
		rights := auth.RightsOf(p)
		rs := make([]any, len(rights))
		for i, r := range rights {
			rs[i] = map[string]any{"role": string(r.Role), "enterprise": r.Enterprise, "cluster": r.Cluster}
		}
		pr = map[string]any{"name": p.Name, "groups": gs, "rights": rs, "via": p.Via}
	}
	in["principal"] = pr
	in["kind"], in["set"], in["version"], in["scope"] = res.Kind, res.Set, res.Version, res.Scope
	in["enterprise"], in["canonical"] = res.Tenant, res.Canonical
	if res.Tenant != "" {
		in["tenant"] = res.Tenant
	}
	if res.Owner != "" {
		in["owner"] = res.Owner
	}
	if res.Cluster != "" {
		in["cluster"] = res.Cluster
	}
	return in
}

// The keys of a right in the input, built once: evaluation never changes
// an input term.
var roleKey, enterpriseKey, clusterKey = ast.StringTerm("role"), ast.StringTerm("enterprise"), ast.StringTerm("cluster")

// inputValue builds the policy input directly as an AST value (cheaper
// than converting a map through reflection). The principal's groups and
// rights, the only lists, are left empty when the policy never reads them
// (use): a caller with many IdP groups then costs nothing extra.
func inputValue(p *auth.Principal, action auth.Action, res auth.Resource, use inputUse) ast.Value {
	var name, via string
	var gs, rs []*ast.Term
	if p != nil {
		name, via = p.Name, p.Via
	}
	if p != nil && use.reads("principal.groups") {
		gs = make([]*ast.Term, len(p.Groups))
		for i, g := range p.Groups {
			gs[i] = ast.StringTerm(g)
		}
	}
	if p != nil && use.reads("principal.rights") {
		rights := auth.RightsOf(p)
		rs = make([]*ast.Term, len(rights))
		for i, r := range rights {
			rs[i] = ast.ObjectTerm(ast.Item(roleKey, ast.StringTerm(string(r.Role))), ast.Item(enterpriseKey, ast.StringTerm(r.Enterprise)),
				ast.Item(clusterKey, ast.StringTerm(r.Cluster)))
		}
	}
	principal := ast.NewObject(
		ast.Item(ast.StringTerm("name"), ast.StringTerm(name)),
		ast.Item(ast.StringTerm("groups"), ast.ArrayTerm(gs...)),
		ast.Item(ast.StringTerm("rights"), ast.ArrayTerm(rs...)),
		ast.Item(ast.StringTerm("via"), ast.StringTerm(via)),
	)
	in := ast.NewObject(
		ast.Item(ast.StringTerm("principal"), ast.NewTerm(principal)),
		ast.Item(ast.StringTerm("action"), ast.StringTerm(string(action))),
		ast.Item(ast.StringTerm("path"), ast.StringTerm(res.Path)),
		ast.Item(ast.StringTerm("kind"), ast.StringTerm(res.Kind)),
		ast.Item(ast.StringTerm("set"), ast.StringTerm(res.Set)),
		ast.Item(ast.StringTerm("version"), ast.StringTerm(res.Version)),
		ast.Item(ast.StringTerm("scope"), ast.StringTerm(res.Scope)),
		// enterprise is the tenant under its name before model sets had
		// scopes, kept so that operators' custom policies keep working.
		ast.Item(ast.StringTerm("enterprise"), ast.StringTerm(res.Tenant)),
		ast.Item(ast.StringTerm("canonical"), ast.BooleanTerm(res.Canonical)),
	)
	if res.Tenant != "" { // absent for global objects and AMP's own routes
		in.Insert(ast.StringTerm("tenant"), ast.StringTerm(res.Tenant))
	}
	if res.Owner != "" { // absent unless a global object names its tenant
		in.Insert(ast.StringTerm("owner"), ast.StringTerm(res.Owner))
	}
	if res.Cluster != "" { // absent but on an edge agent route
		in.Insert(ast.StringTerm("cluster"), ast.StringTerm(res.Cluster))
	}
	return in
}

func decide(ctx context.Context, c *compiled, p *auth.Principal, action auth.Action, res auth.Resource) (Decision, error) {
	rs, err := c.pq.Eval(ctx, rego.EvalParsedInput(inputValue(p, action, res, c.use)))
	if err != nil {
		return Decision{}, fmt.Errorf("evaluate %s: %w", Query, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Decision{}, fmt.Errorf("%s is undefined: the policy must define it", Query)
	}
	obj, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("%s is %T, want an object {allow, deny}", Query, rs[0].Expressions[0].Value)
	}
	var d Decision
	d.Allow, _ = obj["allow"].(bool)
	if dl, ok := obj["deny"].([]any); ok {
		for _, r := range dl {
			d.Deny = append(d.Deny, fmt.Sprint(r))
		}
		sort.Strings(d.Deny)
	}
	if len(d.Deny) > 0 {
		d.Allow = false
	}
	return d, nil
}

// Decide evaluates the policy for one request. Decisions are cached per
// compiled policy (a reload starts afresh), keyed on the input fields the
// policy reads (see inputUse): the policy must be a function of its input (no time.now_ns, no http.send), or
// the cache must be turned off with SetCache(false).
func (e *Engine) Decide(ctx context.Context, p *auth.Principal, action auth.Action, res auth.Resource) (Decision, error) {
	c := e.cur.Load()
	if e.noCache.Load() {
		return decide(ctx, c, p, action, res)
	}
	k := c.use.key(p, action, res)
	if d, ok := c.cache.get(k); ok {
		return d, nil
	}
	d, err := decide(ctx, c, p, action, res)
	if err == nil {
		c.cache.put(k, d)
	}
	return d, err
}

// SetCache turns the decision cache on (the default) or off.
func (e *Engine) SetCache(on bool) { e.noCache.Store(!on) }

func (e *Engine) cacheSize() int { return 8192 }

// Authorize implements auth.Authorizer: nil when allowed; otherwise an
// error wrapping auth.ErrDenied that says why (deny reasons, or that no
// rule allows it), or an *auth.EvaluationError when the policy could not
// decide (the request is refused all the same, as the server's fault).
func (e *Engine) Authorize(ctx context.Context, p *auth.Principal, action auth.Action, res auth.Resource) error {
	if p == nil {
		return auth.ErrNoCredentials
	}
	d, err := e.Decide(ctx, p, action, res)
	if err != nil {
		return &auth.EvaluationError{Err: fmt.Errorf("policy: %w", err)}
	}
	if d.Allow {
		return nil
	}
	if len(d.Deny) > 0 {
		return fmt.Errorf("%w: %s", auth.ErrDenied, strings.Join(d.Deny, "; "))
	}
	return fmt.Errorf("%w: no policy rule allows %s to %s %s", auth.ErrDenied, p.Name, action, res.Path)
}

// compile-time check.
var _ auth.Authorizer = (*Engine)(nil)
