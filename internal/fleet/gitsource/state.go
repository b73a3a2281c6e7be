package gitsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
)

// Result is one fetch's outcome, as the repo's state shows it.
type Result struct {
	Trigger  string // webhook or poll
	Revision string // on success
	Err      error  // on failure
	At       time.Time
}

// Recorder writes fetch results into the repos' operational state
// (git-repo status, config false) and keeps each repo's last state in the
// store's metadata (fleet-git/<repo>), so its revision and fetch count
// survive a restart (operational state on the embedded store does not).
type Recorder struct {
	mu   sync.Mutex
	last map[string]map[string]any // the state written last, per repo
}

// kept is what the metadata holds of a repo: its status and the source
// it was fetched from (never its credentials), to tell whether it still
// applies.
type kept struct {
	Source Source         `json:"source"`
	Status map[string]any `json:"status"`
}

func keptKey(id string) string { return "fleet-git/" + id }

// Record writes r, a fetch of declared, as repo id's status.
func (rc *Recorder) Record(ctx context.Context, eng *config.Engine, set *schema.ModelSet, id string, declared Source, r Result) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.last == nil {
		rc.last = map[string]map[string]any{}
	}
	// Go on from what was kept (after a restart, or written by another
	// replica that took a webhook), else from what this process wrote.
	prev := rc.last[id]
	if k, ok := load(eng.Meta(), id); ok {
		prev = k.Status
	}
	st := maps.Clone(prev) // a failure keeps the revision last fetched
	if st == nil {
		st = map[string]any{}
	}
	count, _ := strconv.ParseUint(fmt.Sprint(st["fetch-count"]), 10, 64)
	st["fetch-count"] = json.Number(strconv.FormatUint(count+1, 10))
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
	b, err := json.Marshal(kept{Source: Source{URL: declared.URL, Branch: declared.Branch, Revision: declared.Revision}, Status: st})
	if err != nil {
		return err
	}
	if err := eng.Meta().PutMeta(keptKey(id), b); err != nil {
		return err
	}
	return writeStatus(ctx, eng, set, id, st)
}

// restore publishes the kept status of repo id, declared as src, after a
// restart and returns it (ok false: nothing kept, or kept for another
// source, which no longer applies).
func (rc *Recorder) restore(ctx context.Context, eng *config.Engine, set *schema.ModelSet, id string, src Source) (map[string]any, bool, error) {
	k, ok := load(eng.Meta(), id)
	if !ok || k.Source != src {
		return nil, false, nil
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.last == nil {
		rc.last = map[string]map[string]any{}
	}
	if rc.last[id] != nil { // fetched since the start: newer than what was kept
		return nil, false, nil
	}
	rc.last[id] = k.Status
	return k.Status, true, writeStatus(ctx, eng, set, id, k.Status)
}

// load reads what the metadata keeps of repo id.
func load(meta store.Meta, id string) (kept, bool) {
	b, err := meta.GetMeta(keptKey(id))
	if err != nil || b == nil {
		return kept{}, false
	}
	var k kept
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // fetch-count as the counter64 it is
	if dec.Decode(&k) != nil || k.Status == nil {
		return kept{}, false
	}
	return k, true
}

// writeStatus replaces repo id's status with st.
func writeStatus(ctx context.Context, eng *config.Engine, set *schema.ModelSet, id string, st map[string]any) error {
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
