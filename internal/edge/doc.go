// Package edge is AMP's central end of the agent link (docs/agent.md, "The
// link: desired state and check-ins"): what each cluster's agent must hold
// (its desired state, by digest, with resumable deltas and a long-poll that
// wakes within a second of the commit that changed it) and what the agents
// report back (check-ins recorded as the cluster's operational state, the
// connected sweeper, the amp_edge_ metrics), and the site queries handed
// to the agents over their waits (queries.go: AMP never dials a site).
//
// It is generic: it knows no model set. The wing that declares clusters
// (internal/provision/cluster) registers a Directory (which clusters exist,
// their site, where their state is written) and one Source per kind of
// object it derives from a declaration (node, namespace); later issues add
// kinds with RegisterSource and never touch this package.
//
// It imports the engine, the schema and the wire protocol only; the REST
// routes are internal/edge/edgeapi's.
package edge
