// Package probes is AMP's central end of the end-to-end probes (book
// chapter 6; docs/monitoring.md, "Probes"): the edge source of kind
// "probe", which gives every cluster the two built-in probes
// (control-plane, user-plane) and the probes the monitor set declares
// for it, and the results the agents push at once over their link:
// checked, exposed as amp_edge_probe_ok, amp_edge_probe_duration_seconds
// and amp_edge_last_update_timestamp_seconds (the book's aetheredge_*),
// kept as the monitor set's operational state (probe-results, readable
// through REST and gNMI) and in the store's metadata, so they survive a
// restart.
//
// It imports the engine, the schema, the edge hub's registration, the
// wire protocol and the inventory reader; the route is
// internal/edge/edgeapi's.
package probes
