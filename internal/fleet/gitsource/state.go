package gitsource

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// Result is one fetch's outcome, as the repo's state shows it.
type Result struct {
	Trigger  string // webhook or poll
	Revision string // on success
	Err      error  // on failure
	At       time.Time
}

// Recorder writes fetch results into the repos' operational state
// (git-repo status, config false): not versioned, read back with the repo.
// It counts the fetches it recorded per repo since the process started.
type Recorder struct {
	mu    sync.Mutex
	count map[string]uint64
	last  map[string]map[string]any // the state written last, per repo
}

// Record writes r as repo id's status.
func (rc *Recorder) Record(ctx context.Context, eng *config.Engine, set *schema.ModelSet, id string, r Result) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.count == nil {
		rc.count, rc.last = map[string]uint64{}, map[string]map[string]any{}
	}
	rc.count[id]++
	st := map[string]any{}
	for k, v := range rc.last[id] { // a failure keeps the revision last fetched
		st[k] = v
	}
	st["fetch-count"] = json.Number(strconv.FormatUint(rc.count[id], 10))
	st["trigger"] = r.Trigger
	at := r.At.UTC().Format(time.RFC3339)
	if r.Err != nil {
		st["last-error"], st["last-error-at"] = r.Err.Error(), at
	} else {
		st["revision"], st["fetched-at"] = r.Revision, at
		delete(st, "last-error")
		delete(st, "last-error-at")
	}
	rc.last[id] = st
	route, err := eng.Schema().ParseRoute(RepoPath(set, id) + "/status")
	if err != nil {
		return err
	}
	loc, err := route.Resolve()
	if err != nil {
		return err
	}
	val, err := schema.DecodeJSON(loc.Node, st, loc.REST(), false, schema.DecodeOptions{AllowState: true})
	if err != nil {
		return err
	}
	return eng.SetState(ctx, loc, config.OpReplace, val)
}

// RepoKey is the storage key of a git-repo of set.
func RepoKey(set *schema.ModelSet, id string) string {
	return schema.RootKey(set, "") + "/git-repo/" + schema.EscapeSegment(id)
}

// RepoPath is the REST path of a git-repo of set.
func RepoPath(set *schema.ModelSet, id string) string {
	return schema.RESTBase(set) + "/git-repo/" + schema.EscapeSegment(id)
}

// SourceOf reads a declared repo's source from its configuration.
func SourceOf(o *config.Object) Source {
	str := func(k string) string { s, _ := o.Data[k].(string); return s }
	b := str("branch")
	if b == "" && str("revision") == "" {
		b = "main" // the YANG default
	}
	return Source{URL: str("url"), Branch: b, Revision: str("revision")}
}
