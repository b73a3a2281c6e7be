package policy

import (
	"context"
	"os"
	"sync"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/models"
)

// testSchema is Aether plus the test sets lab (global scope) and workload
// (tenant scope): what the servers' paths are classified against.
var testSchema = sync.OnceValue(func() *schema.Schema {
	sch, err := schema.Load(models.FS, os.DirFS("../../test/testdata/models"))
	if err != nil {
		panic(err)
	}
	return sch
})

// res classifies a path as the interfaces do before they ask the policy.
func res(path string) auth.Resource {
	r, err := auth.ResourceOf(testSchema(), path)
	if err != nil {
		panic(err)
	}
	return r
}

// authorizePath is Authorize on a path, as the interfaces call it.
func (e *Engine) authorizePath(ctx context.Context, p *auth.Principal, a auth.Action, path string) error {
	return e.Authorize(ctx, p, a, res(path))
}

func (e *Engine) allowed(p *auth.Principal, a auth.Action, path string) bool {
	return e.authorizePath(context.Background(), p, a, path) == nil
}
