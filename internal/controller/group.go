package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/amp-edge/amp/internal/elect"
)

// Group runs several controllers and answers status questions across them.
// With several replicas, each controller runs on the one replica that
// leads its election ("controller/<adapter>"); the others hold no status
// for it.
type Group struct {
	list    []*Controller
	elector elect.Elector
	leading []atomic.Bool // by index in list
}

// ErrElsewhere is returned by WaitApplied for a controller another replica
// runs: only that replica knows what its backends hold.
var ErrElsewhere = errors.New("the controller runs on another replica")

// NewGroup groups controllers (none is fine: every write is then "applied"
// at commit). el decides where each runs; nil runs them all here.
func NewGroup(el elect.Elector, cs ...*Controller) *Group {
	if el == nil {
		el = elect.Local{}
	}
	g := &Group{list: cs, elector: el, leading: make([]atomic.Bool, len(cs))}
	if _, alone := el.(elect.Local); alone {
		// A lone replica leads from the start: a write answered before
		// Run's goroutines start must not be told "elsewhere".
		for i := range g.leading {
			g.leading[i].Store(true)
		}
	}
	return g
}

// Run runs every controller while this replica leads its election, until
// ctx ends.
func (g *Group) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i, c := range g.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.elector.Lead(ctx, "controller/"+c.ad.Name(), func(ctx context.Context) {
				g.leading[i].Store(true)
				defer g.leading[i].Store(false)
				_ = c.Run(ctx)
			})
		}()
	}
	wg.Wait()
}

// Running maps each adapter to whether its controller runs on this replica.
func (g *Group) Running() map[string]bool {
	out := map[string]bool{}
	for i, c := range g.list {
		out[c.ad.Name()] = g.leading[i].Load()
	}
	return out
}

// Leaders maps each adapter to the replica that runs its controller, as
// the election says ("" when none does, or the election cannot be read).
func (g *Group) Leaders(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, c := range g.list {
		out[c.ad.Name()], _ = g.elector.Leader(ctx, "controller/"+c.ad.Name())
	}
	return out
}

// Statuses returns the object statuses of the controllers running here.
func (g *Group) Statuses() []Status {
	var out []Status
	for i, c := range g.list {
		if g.leading[i].Load() {
			out = append(out, c.Statuses()...)
		}
	}
	return out
}

// WaitApplied waits on every controller (see Controller.WaitApplied); for
// one running on another replica it returns at once with ErrElsewhere.
func (g *Group) WaitApplied(ctx context.Context, index uint64) ([]Status, error) {
	var out []Status
	for i, c := range g.list {
		if !g.leading[i].Load() {
			return out, fmt.Errorf("adapter %s: %w", c.ad.Name(), ErrElsewhere)
		}
		sts, err := c.WaitApplied(ctx, index)
		out = append(out, sts...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
