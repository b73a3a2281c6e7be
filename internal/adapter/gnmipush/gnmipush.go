// Package gnmipush is the generic southbound adapter for backends that speak
// gNMI natively (the book's default southbound protocol): it pushes a
// configured subtree of AMP's configuration to a gNMI target with a Set
// replace, over mutual TLS, and asks the target with a Get whether it still
// holds it (so a target that restarted empty is resynced).
//
// It imports internal/config, internal/controller and internal/schema, and
// registers itself, with --gnmi-push-config, with internal/component
// (register.go).
package gnmipush

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
	"github.com/amp-edge/amp/internal/schema"
)

// Push is one configured subtree and where it goes.
type Push struct {
	// Name identifies the push in status and logs.
	Name string `json:"name"`
	// Address is the gNMI target's host:port.
	Address string `json:"address"`
	// Source is the REST path of the subtree to push, e.g.
	// /aether/v2.1.x/acme (a whole enterprise) or /aether/v2.1.x/acme/site/s1.
	Source string `json:"source"`
	// Origin and Target go in the Set's path prefix (defaults: the source's
	// model set and enterprise).
	Origin string `json:"origin,omitempty"`
	Target string `json:"target,omitempty"`
	// Path is the gNMI path at the target (default: the source's path).
	Path string `json:"path,omitempty"`
	// TLS: CA to verify the target, and a client certificate and key for
	// mutual TLS. Without CA the connection is plaintext (loopback only).
	CA   string `json:"ca,omitempty"`
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// ServerName overrides the name checked in the target's certificate.
	ServerName string `json:"server-name,omitempty"`
	// TokenFile holds a bearer token for targets that want one (AMP).
	TokenFile string `json:"token-file,omitempty"`
}

// Config is the file --gnmi-push-config names: {"push": [Push, …]}.
type Config struct {
	Push []Push `json:"push"`
}

// LoadConfig reads a YAML or JSON push configuration.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gnmi push config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("gnmi push config %s: %w", path, err)
	}
	for i, p := range c.Push {
		if p.Name == "" || p.Address == "" || p.Source == "" {
			return nil, fmt.Errorf("gnmi push config %s: push[%d] needs name, address and source", path, i)
		}
		if (p.Cert == "") != (p.Key == "") {
			return nil, fmt.Errorf("gnmi push config %s: push %q: cert and key go together", path, p.Name)
		}
	}
	return &c, nil
}

// Adapter implements controller.Adapter for a set of pushes.
type Adapter struct {
	sch    *schema.Schema
	netw   *endpoint.Network   // nil: connect anywhere
	pushes map[string]resolved // by id ("gnmi/<name>")
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
}

type resolved struct {
	Push
	loc    *schema.Location
	remote *gpb.Path
	token  string
	creds  credentials.TransportCredentials
}

// New checks the configuration against the schema and prepares the
// connections (dialled lazily). The targets are the operator's (this file
// is theirs, no tenant writes it); netw, when not nil, still checks every
// address dialled, so a target's name cannot lead AMP to a refused range.
func New(sch *schema.Schema, cfg *Config, netw *endpoint.Network) (*Adapter, error) {
	a := &Adapter{sch: sch, netw: netw, pushes: map[string]resolved{}, conns: map[string]*grpc.ClientConn{}}
	for _, p := range cfg.Push {
		route, err := sch.ParseRoute(p.Source)
		if err != nil {
			return nil, fmt.Errorf("push %q: source: %w", p.Name, err)
		}
		if route.Kind != schema.RouteModel {
			return nil, fmt.Errorf("push %q: source %q is not /{set}/v{version}/[{tenant}/]… of a loaded model set", p.Name, p.Source)
		}
		set, target := route.Set, route.Tenant
		loc, err := route.Resolve()
		if err != nil {
			return nil, fmt.Errorf("push %q: %w", p.Name, err)
		}
		if loc.Collection || loc.Node.Kind == schema.Leaf || loc.Node.Kind == schema.LeafList {
			return nil, fmt.Errorf("push %q: source must be an enterprise, a list entry or a container", p.Name)
		}
		r := resolved{Push: p, loc: loc}
		if r.Origin == "" {
			r.Origin = set.Name
		}
		if r.Target == "" {
			r.Target = target
		}
		gp := p.Path
		if gp == "" {
			gp = loc.GNMIPath()
		}
		if r.remote, err = parsePath(gp); err != nil {
			return nil, fmt.Errorf("push %q: path %q: %w", p.Name, gp, err)
		}
		if p.TokenFile != "" {
			b, err := os.ReadFile(p.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("push %q: %w", p.Name, err)
			}
			r.token = strings.TrimSpace(string(b))
		}
		if r.creds, err = transport(p); err != nil {
			return nil, fmt.Errorf("push %q: %w", p.Name, err)
		}
		a.pushes["gnmi/"+p.Name] = r
	}
	return a, nil
}

func transport(p Push) (credentials.TransportCredentials, error) {
	if p.CA == "" {
		return insecure.NewCredentials(), nil
	}
	pem, err := os.ReadFile(p.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", p.CA)
	}
	tc := &tls.Config{RootCAs: pool, ServerName: p.ServerName, MinVersion: tls.VersionTLS12}
	if p.Cert != "" {
		cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(tc), nil
}

// parsePath parses a gNMI path string (/a[k=v]/b) into a gnmi.Path.
func parsePath(p string) (*gpb.Path, error) {
	out := &gpb.Path{}
	for _, e := range splitElems(strings.Trim(p, "/")) {
		name, rest, _ := strings.Cut(e, "[")
		pe := &gpb.PathElem{Name: name}
		for rest != "" {
			kv, after, ok := strings.Cut(rest, "]")
			if !ok {
				return nil, fmt.Errorf("unterminated key in %q", e)
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("key without '=' in %q", e)
			}
			if pe.Key == nil {
				pe.Key = map[string]string{}
			}
			pe.Key[k] = v
			rest = strings.TrimPrefix(after, "[")
		}
		out.Elem = append(out.Elem, pe)
	}
	return out, nil
}

// splitElems splits on "/" outside brackets.
func splitElems(p string) []string {
	if p == "" {
		return nil
	}
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '/':
			if depth == 0 {
				out = append(out, p[start:i])
				start = i + 1
			}
		}
	}
	return append(out, p[start:])
}

// Name implements controller.Adapter.
func (a *Adapter) Name() string { return "gnmi" }

// Render implements controller.Adapter: each push's subtree as RFC 7951
// JSON (configuration only).
func (a *Adapter) Render(snap *config.Snapshot) map[string]controller.Desired {
	out := make(map[string]controller.Desired, len(a.pushes))
	for id, r := range a.pushes {
		d := controller.Desired{Backend: r.Address, Sources: []string{r.loc.ObjectKey}}
		if !snap.TargetExists(r.loc.Tenant) {
			continue // nothing to push: the target's subtree is deleted
		}
		obj, ok := snap.Object(r.loc)
		if !ok {
			continue
		}
		tree, _ := snap.Tree(obj)
		var val any = tree
		if len(r.loc.Inner) > 0 {
			v, ok := schema.Lookup(tree, r.loc.Inner)
			if !ok {
				continue
			}
			val = v
		}
		body, err := json.Marshal(schema.Encode(r.loc.Node, val, schema.EncodeOptions{RFC7951: true, ConfigOnly: true}))
		if err != nil {
			d.Err = err.Error()
		}
		d.Body = body
		out[id] = d
	}
	return out
}

func (a *Adapter) conn(r resolved) (*grpc.ClientConn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.conns[r.Name]; ok {
		return c, nil
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(r.creds)}
	if a.netw != nil {
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return a.netw.DialContext(ctx, "tcp", addr)
		}))
	}
	c, err := grpc.NewClient(r.Address, opts...)
	if err != nil {
		return nil, err
	}
	a.conns[r.Name] = c
	return c, nil
}

func (a *Adapter) call(ctx context.Context, id string) (gpb.GNMIClient, resolved, context.Context, error) {
	r, ok := a.pushes[id]
	if !ok {
		return nil, r, ctx, fmt.Errorf("no push %q configured", id)
	}
	c, err := a.conn(r)
	if err != nil {
		return nil, r, ctx, err
	}
	if r.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.token)
	}
	return gpb.NewGNMIClient(c), r, ctx, nil
}

func (r resolved) prefix() *gpb.Path { return &gpb.Path{Origin: r.Origin, Target: r.Target} }

// Push implements controller.Adapter: a Set replace of the whole subtree.
func (a *Adapter) Push(ctx context.Context, id string, d controller.Desired) error {
	cl, r, ctx, err := a.call(ctx, id)
	if err != nil {
		return err
	}
	_, err = cl.Set(ctx, &gpb.SetRequest{Prefix: r.prefix(), Replace: []*gpb.Update{{Path: r.remote,
		Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: d.Body}}}}})
	if err != nil {
		return targetError("gNMI Set to "+r.Address, err)
	}
	return nil
}

// targetError keeps a target's own words (its status message) out of the
// error's text, which the enterprise reads in /sync-status: only the code
// is shown, the message goes to the operator's log, sanitised.
func targetError(op string, err error) error {
	st := status.Convert(err)
	return &endpoint.BackendError{Op: op, Status: st.Code().String(), Detail: endpoint.Reason([]byte(st.Message()))}
}

// Delete implements controller.Adapter.
func (a *Adapter) Delete(ctx context.Context, id, _ string) error {
	cl, r, ctx, err := a.call(ctx, id)
	if err != nil {
		return err
	}
	_, err = cl.Set(ctx, &gpb.SetRequest{Prefix: r.prefix(), Delete: []*gpb.Path{r.remote}})
	if status.Code(err) == codes.NotFound {
		return nil
	}
	if err != nil {
		return targetError("gNMI delete at "+r.Address, err)
	}
	return nil
}

// Held implements controller.Adapter: a push is held when a Get of its
// path at the target answers.
func (a *Adapter) Held(ctx context.Context, backend string) (map[string]bool, error) {
	out := map[string]bool{}
	for id, r := range a.pushes {
		if r.Address != backend {
			continue
		}
		cl, r, cctx, err := a.call(ctx, id)
		if err != nil {
			return nil, err
		}
		resp, err := cl.Get(cctx, &gpb.GetRequest{Prefix: r.prefix(), Path: []*gpb.Path{r.remote}, Type: gpb.GetRequest_CONFIG, Encoding: gpb.Encoding_JSON_IETF})
		switch status.Code(err) {
		case codes.OK:
			// A path that exists but is empty (an enterprise root on a
			// target that restarted empty) is not held.
			out[id] = holdsContent(resp)
		case codes.NotFound:
		default:
			return nil, targetError("gNMI Get at "+r.Address, err)
		}
	}
	return out, nil
}

func holdsContent(resp *gpb.GetResponse) bool {
	for _, n := range resp.GetNotification() {
		for _, u := range n.GetUpdate() {
			v := u.GetVal()
			b := v.GetJsonIetfVal()
			if b == nil {
				b = v.GetJsonVal()
			}
			if s := strings.TrimSpace(string(b)); b == nil && v != nil || s != "" && s != "{}" && s != "[]" && s != "null" {
				return true
			}
		}
	}
	return false
}

// Close closes the connections.
func (a *Adapter) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.conns {
		c.Close()
	}
}

// Watches implements controller.Watcher: the pushed subtrees.
func (a *Adapter) Watches() []string {
	var out []string
	for _, r := range a.pushes {
		out = append(out, r.loc.ObjectKey)
	}
	return out
}
