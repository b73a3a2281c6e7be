package config

import (
	"fmt"
	"io"

	"github.com/amp-edge/amp/internal/backup"
)

// Backup writes a backup of the configuration to w while the engine runs
// (GET /admin/backup). The objects are those of the newest snapshot, which
// is immutable, so they are consistent without holding up writers; the log
// records up to the snapshot's index are durable in the store before the
// snapshot is published, so the history read afterwards reaches it. The
// metadata is read last, as of the end of the backup. h's Created,
// AMPVersion and Source are kept; its indexes are the snapshot's.
func (e *Engine) Backup(w io.Writer, h backup.Header) (backup.Header, backup.Trailer, error) {
	snap := e.Snapshot()
	h.Checkpoint, h.Last = snap.Index, snap.Index
	bw, err := backup.NewWriter(w, h)
	if err != nil {
		return h, backup.Trailer{}, err
	}
	var werr error
	snap.Objects.Root().Walk(func(k []byte, o *Object) bool {
		werr = bw.Object(string(k), encodeObject(o))
		return werr != nil
	})
	if werr != nil {
		return h, backup.Trailer{}, fmt.Errorf("back up objects at index %d: %w", snap.Index, werr)
	}
	if err := bw.Log(e.store); err != nil {
		return h, backup.Trailer{}, err
	}
	if err := bw.Metas(e.store); err != nil {
		return h, backup.Trailer{}, err
	}
	t, err := bw.Close()
	return bw.Header(), t, err
}
