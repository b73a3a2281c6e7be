// Package workflow is AMP's small durable workflow engine (issue 13 part 8;
// the book's chapter 5.4 calls its workflows "ad hoc"): a run is a kind's
// state machine, one named step at a time, whose record (its step, its
// data, its history) is kept in the store's metadata after every step. So
// a run survives kill -9 and moves with backups (amp backup copies the
// metadata), and after a restart it resumes at the step it was on: a step
// that was under way when the process died runs again, so every kind's
// steps are idempotent (they write what they decide, never add to it).
//
// A step that fails is tried again with exponential backoff (1 s, 2 s, …,
// at most a minute), and after MaxAttempts failures in a row the run fails
// with the last error. A step may wait (a bake time, an approval): it says
// on what, and runs again later. A run may be cancelled: the request is a
// metadata key of its own, so a replica that does not run workflows can
// take it, and the runner honours it before the run's next step.
//
// The runner (Engine.Run) runs on one process at a time: amp serve starts
// it as a leader-only service when replicas share a store (etcd). Kinds
// register at init (Register). docs/lifecycle.md "Workflows".
package workflow
