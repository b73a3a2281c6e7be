package state

import (
	"errors"
	"io/fs"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// ProbesFile holds the probe results not yet pushed to AMP (oldest first),
// so a result taken while AMP is out of reach survives a restart of the
// agent and is pushed when the link returns.
const ProbesFile = "probes.json"

// PendingProbes reads the results not yet pushed (none: nil, nil).
func (d *Dir) PendingProbes() ([]wire.ProbeResult, error) {
	var rs []wire.ProbeResult
	if err := d.readJSON(ProbesFile, &rs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return rs, nil
}

// SavePendingProbes replaces the results not yet pushed.
func (d *Dir) SavePendingProbes(rs []wire.ProbeResult) error { return d.writeJSON(ProbesFile, rs) }
