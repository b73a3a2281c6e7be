// Package config is AMP's configuration engine (the book's x-config): every
// change is a transaction that is applied to an immutable snapshot,
// validated incrementally against the schema, committed durably to the store
// with group commit, published as the new snapshot and fed to watchers.
//
// It owns transactions (propose, validate, commit, notify), snapshots (readers
// never wait for writers), history (list, diff between any two indexes,
// point-in-time reads, rollback of any past transaction with a conflict
// report) and watch streams resumable from an index.
//
// It imports internal/schema and internal/store, never an API package.
package config
