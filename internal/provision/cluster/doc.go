// Package cluster is the wing of the inventory's clusters declared as code
// (book chapter 3.2, docs/provisioning.md "Clusters"): the plan that
// compares a cluster's declaration with what the cluster reports, and the
// single-use, expiring registration tokens its agent registers with (the
// book's bootstrap "finalize" step).
//
// The declaration is configuration (inventory `cluster`); the report and
// the registration are its operational state (the `config false`
// containers `report` and `registration`); the tokens live hashed in the
// store's metadata, beside the API tokens. It imports the engine, the
// schema, the store's metadata interface and the inventory reader.
package cluster
