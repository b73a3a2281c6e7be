package config

import (
	"fmt"
	"strings"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/schema"
)

// CheckBackupItem reports whether the engine, with the models of sch, can
// load an object or log record of a backup: its key names a node of the
// models and its value decodes as it does at start-up. amp restore runs it
// over the whole backup before writing anything, so a backup the server
// could not start on is refused with the store untouched.
func CheckBackupItem(sch *schema.Schema, it backup.Item) error {
	switch it.Kind {
	case backup.KindObject:
		var node *schema.Node
		if !strings.HasPrefix(it.Key, targetPrefix) {
			// A backup of the previous release: amp serve upgrades
			// its keys on first start (upgrade.go).
			key, _, err := upgradeKey(sch, it.Key)
			if err != nil {
				return fmt.Errorf("object %s does not fit the models: %w", it.Key, err)
			}
			loc, err := sch.ParseObjectKey(key)
			if err != nil {
				return fmt.Errorf("object %s does not fit the models: %w", it.Key, err)
			}
			node = loc.Node
		}
		if _, err := decodeObject(it.Key, node, it.Value); err != nil {
			return err
		}
	case backup.KindRecord:
		r, err := decodeRecord(sch, it.Value)
		if err != nil {
			return fmt.Errorf("log record %d: %w", it.Index, err)
		}
		if r.Index != 0 && r.Index != it.Index {
			return fmt.Errorf("log record %d holds transaction %d", it.Index, r.Index)
		}
	}
	return nil
}
