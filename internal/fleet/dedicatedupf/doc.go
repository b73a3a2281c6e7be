// Package dedicatedupf is the book's runtime-control → lifecycle example
// (chapter 5.4, issue 13 part 8): an Aether slice that asks for a UPF of
// its own (amp-aether-lifecycle's dedicated-upf/bundle) gets the bundle's
// chart deployed to the cluster of its site as a Helm release of its own,
// and its upf pointing at it once the site's agent reports the release
// ready — one durable workflow run (kind dedicated-upf, internal/workflow)
// per request, which a failure or a cancel undoes (the release
// uninstalled, the slice as it was).
//
// The Controller starts the runs from the commits; the steps read the
// aether, inventory and fleet sets by their storage keys (the fleet's
// wing links no other set's code), stage the release through the
// rollouts' deployments (internal/fleet/rollout), and commit as the
// workflow ("workflow:<run id>"), so the history names who changed the
// slice. docs/lifecycle.md "A slice's dedicated UPF".
package dedicatedupf
