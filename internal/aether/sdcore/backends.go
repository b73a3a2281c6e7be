package sdcore

import (
	"strings"

	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
)

var _ controller.Trigger = (*Adapter)(nil)

// Changed implements controller.Trigger: the operator's grants changed,
// render again (nil, never ready, without Options.Backends).
func (a *Adapter) Changed() <-chan struct{} {
	if a.opts.Backends == nil {
		return nil
	}
	return a.opts.Backends.Changed()
}

// backend turns an endpoint leaf's value into the backend to use: under
// the operator's grants (Options.Backends) only a backend of that kind
// granted to the enterprise, whatever the configuration says (a grant
// revoked after the commit stops the pushes).
func (r *renderer) backend(kind, value string) (string, error) {
	if r.a.opts.Backends == nil {
		return strings.TrimRight(value, "/"), nil
	}
	b, err := r.a.opts.Backends.Resolve(r.ent, kind, value)
	if err != nil {
		return "", err
	}
	return b.URL, nil
}

// remoteName is the name an object has on its backend: its own, or, on a
// backend the operator granted to several enterprises, the enterprise, "_"
// and its own. No aether identifier contains "_" (webconsole's names may),
// so two enterprises' names on one backend never meet.
func (r *renderer) remoteName(kind, backend, name string) string {
	bk := endpoint.Core
	if kind == kindUPF {
		bk = endpoint.UPF
	}
	if backend == "" || r.a.opts.Backends == nil || !r.a.opts.Backends.Shared(bk, backend) {
		return name
	}
	return r.ent + "_" + name
}
