// Package backup is AMP's backup file: the format (Writer, Reader), a dump
// of a store that no server is using (Dump) and a restore into an empty
// store (Restore). docs/backup.md describes the format for operators.
//
// A backup holds a store's logical content, not its files: the objects as
// of one transaction index, the transaction log (history) within retention
// with its original indexes, and the store's metadata (hashed API tokens,
// the first-token marker). So a backup of a bbolt store restores into etcd
// and back, and `amp migrate-store` is a dump piped into a restore.
//
// It imports only internal/store; the config engine writes online backups
// through Writer (config.Engine.Backup).
package backup
