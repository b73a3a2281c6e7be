package ipam

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

var tracer = otel.Tracer("github.com/amp-edge/amp/internal/provision/ipam")

// maxAttempts bounds how often one allocation chooses again after other
// writers took what it chose. Allocators of one process avoid each other's
// choices (claims), so only allocators on other replicas make it try
// again, and each round one of them wins.
const maxAttempts = 24

// Choice is what one attempt of an allocation takes: the edits that
// create it, as ONE transaction, and how to tell whether it is still free.
type Choice struct {
	Edits []config.Edit
	// Paths are the REST paths the edits create, for authorization and
	// the audit record.
	Paths []string
	// Created is the answer: the objects as created, in request order.
	Created []map[string]any
	// claims are what the choice takes, as claim keys, so that concurrent
	// allocators of this process choose something else.
	claims []string
	// free reports whether everything the choice takes is still free in
	// a newer snapshot: if not, another writer took it and the allocation
	// chooses again; if so, the refusal was about something else and is
	// the answer.
	free func(now *config.Snapshot) bool
}

// chooser makes one attempt's choice from snap; claimed reports what
// allocators of this process are committing now (a hint, never a refusal:
// a chooser that finds too little besides claimed choices ignores them).
type chooser func(snap *config.Snapshot, claimed func(key string) bool) (*Choice, error)

// Submit commits a choice as ONE transaction as the caller (the REST
// layer authorizes its paths first).
type Submit func(c *Choice) (*config.Result, error)

// claims are the choices allocators of this process are committing, per
// engine. They only spread concurrent allocators over the free space; the
// engine's transactions decide (a create refuses an existing address, a
// unique VID, an If-Match on the site's prefixes), so replicas that share
// a store stay correct without them.
var claims = struct {
	sync.Mutex
	taken map[claimKey]struct{}
}{taken: map[claimKey]struct{}{}}

type claimKey struct {
	eng *config.Engine
	key string
}

// allocate chooses from the newest snapshot, commits, and chooses again
// when another writer took the choice first, up to maxAttempts times.
func allocate(ctx context.Context, eng *config.Engine, kind string, choose chooser, submit Submit) (*Choice, *config.Result, error) {
	ctx, span := tracer.Start(ctx, "ipam.allocate")
	defer span.End()
	span.SetAttributes(attribute.String("ipam.kind", kind))
	for attempt := 1; ; attempt++ {
		span.SetAttributes(attribute.Int("ipam.attempts", attempt))
		claims.Lock()
		snap := eng.Snapshot()
		c, err := choose(snap, func(key string) bool {
			_, ok := claims.taken[claimKey{eng, key}]
			return ok
		})
		if err == nil {
			for _, k := range c.claims {
				claims.taken[claimKey{eng, k}] = struct{}{}
			}
		}
		claims.Unlock()
		if err != nil {
			return nil, nil, err
		}
		res, err := submit(c)
		claims.Lock()
		for _, k := range c.claims {
			delete(claims.taken, claimKey{eng, k})
		}
		claims.Unlock()
		if err == nil {
			return c, res, nil
		}
		if !lostRace(err, func() bool { return !c.free(eng.Snapshot()) }) {
			return nil, nil, err
		}
		if attempt == maxAttempts {
			return nil, nil, schema.Errorf(schema.KindUnavailable, c.Paths[0],
				"other writers took the %s chosen %d times in a row; try again", kind, attempt)
		}
		// Let the writers that won go first.
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 5)))):
		}
	}
}

// lostRace reports whether a refusal comes from another writer having
// taken the choice first: a changed version (If-Match), or a create of
// what exists or a unique value twice (a conflict or an invalid request)
// when the choice is no longer free. Any other refusal is the answer.
func lostRace(err error, taken func() bool) bool {
	switch schema.KindOf(err) {
	case schema.KindPrecondition:
		return true
	case schema.KindConflict, schema.KindInvalid:
		return taken()
	}
	return false
}
