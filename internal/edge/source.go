package edge

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/schema"
)

// Cluster is a declared cluster as the Directory knows it.
type Cluster struct {
	ID   string
	Site string // "" for a cluster at no site (a public cloud)
	// Path is the cluster's REST path: what operator routes authorize
	// and what errors about it name.
	Path string
	// Prefix is the storage key prefix of the configuration its sources
	// read (a point-in-time read of the cluster's past reads only that).
	Prefix string
	// Created is the transaction that declared it: the desired state's
	// index while it holds no object.
	Created uint64
}

// Directory says which clusters exist and writes their operational state.
type Directory interface {
	// Cluster returns the cluster declared as id in snap.
	Cluster(sch *schema.Schema, snap *config.Snapshot, id string) (Cluster, bool)
	// Path is the REST path of cluster id, declared or not: what
	// operator routes authorize before they look (so a missing cluster
	// is refused alike) and name in a 404.
	Path(sch *schema.Schema, id string) string
	// Clusters lists the declared clusters in id order.
	Clusters(sch *schema.Schema, snap *config.Snapshot) []Cluster
	// State returns the cluster's operational state containers as
	// stored (nil when absent): "report" and "agent".
	State(sch *schema.Schema, snap *config.Snapshot, id string) map[string]map[string]any
	// Record writes one state container of the cluster ("report" or
	// "agent"): value in JSON terms, replaced (config.OpReplace) or merged
	// (config.OpMerge).
	Record(ctx context.Context, eng *config.Engine, id, container string, op config.Op, value map[string]any) error
}

// Source derives a cluster's objects of one kind from the configuration.
type Source interface {
	Kind() string
	// Objects returns the cluster's objects of the kind as of snap, each
	// with Kind, Name, Spec and Index (the newest index of the
	// configuration it was read from: no earlier than the spec's last
	// change). Digest is filled in by the caller.
	Objects(sch *schema.Schema, snap *config.Snapshot, cluster string) ([]wire.Object, error)
	// Affects returns the clusters whose objects of the kind may change
	// with ch (none: the key is not the source's), as of snap, the
	// snapshot after the change. Wildcard among them stands for every
	// cluster the hub caches, for a change the source cannot attribute
	// (a deleted object whose clusters only its state named). The hub
	// rebuilds these clusters' states and wakes the waiters of those
	// whose digest moved: a source that answers only the clusters whose
	// part of the object changed (ch.Before against ch.After) keeps a
	// write about a few clusters from rebuilding all of them.
	Affects(sch *schema.Schema, snap *config.Snapshot, ch Change) []string
}

// Change is one changed object, as Source.Affects is told of it.
type Change struct {
	Key string // the object's storage key
	// State: its operational state (config false) was written
	// (Engine.SetState), not its configuration. Sources that read
	// configuration only return nothing for it.
	State bool
	// Before and After, for a state write, are the object's operational
	// state before and after it (nil: none), in the order the writes
	// happened: Before is what the hub last applied, which every cached
	// desired state was built from or has been rebuilt since.
	Before, After map[string]any
	// Aside, when set, says that what a source keeps beside the
	// configuration and state for the object changed (Notify; the
	// fleet's prepared charts, in the store's metadata): its value is the
	// source's own. Only the source Notify names is asked.
	Aside string
}

// Wildcard, in Source.Affects's answer, is every cluster the hub caches.
// No cluster has this id (a cluster-id is a DNS label).
const Wildcard = "*"

var (
	regMu     sync.RWMutex
	sources   = map[string]Source{}
	directory Directory
)

// RegisterSource adds the source of a kind; a second one of the same kind
// is a programming error.
func RegisterSource(s Source) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := sources[s.Kind()]; dup {
		panic(fmt.Sprintf("edge: source of kind %q registered twice", s.Kind()))
	}
	sources[s.Kind()] = s
}

// SetDirectory registers the directory of clusters (one per binary).
func SetDirectory(d Directory) {
	regMu.Lock()
	defer regMu.Unlock()
	if directory != nil {
		panic("edge: a second cluster directory registered")
	}
	directory = d
}

// registered returns the directory and the sources in kind order.
func registered() (Directory, []Source) {
	regMu.RLock()
	defer regMu.RUnlock()
	list := make([]Source, 0, len(sources))
	for _, s := range sources {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Kind() < list[j].Kind() })
	return directory, list
}
