package controller

import (
	"context"
	"sync"
)

// Group runs several controllers and answers status questions across them.
type Group struct {
	list []*Controller
}

// NewGroup groups controllers (none is fine: every write is then "applied"
// at commit).
func NewGroup(cs ...*Controller) *Group { return &Group{list: cs} }

// Run runs every controller until ctx ends.
func (g *Group) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range g.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Run(ctx)
		}()
	}
	wg.Wait()
}

// Statuses returns every adapter's object statuses.
func (g *Group) Statuses() []Status {
	var out []Status
	for _, c := range g.list {
		out = append(out, c.Statuses()...)
	}
	return out
}

// WaitApplied waits on every controller (see Controller.WaitApplied).
func (g *Group) WaitApplied(ctx context.Context, index uint64) ([]Status, error) {
	var out []Status
	for _, c := range g.list {
		sts, err := c.WaitApplied(ctx, index)
		out = append(out, sts...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
