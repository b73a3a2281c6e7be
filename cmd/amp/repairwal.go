package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/store"
)

func newRepairWALCmd() *cobra.Command {
	var dataDir string
	var apply bool
	cmd := &cobra.Command{
		Use:   "repair-wal [--data-dir DIR] [--i-understand-data-loss]",
		Short: "Repair a damaged write-ahead log that amp serve refuses to start on, offline",
		Long: `amp serve refuses to start when a record in the middle of its write-ahead
log (<data-dir>/wal) is damaged: only the last write can be torn by a crash,
so a damaged record followed by valid ones means the disk lost an
acknowledged transaction, and reading on would silently drop every
transaction after it. The error names the file, the offset and the index.

Without --i-understand-data-loss, repair-wal only reports what a repair
would keep and discard, and changes nothing. With it, repair-wal:
  - keeps every transaction up to the damaged one;
  - discards the damaged one and every one after it (a transaction is
    recorded relative to the ones before it, so those cannot be replayed);
  - records an empty tombstone transaction (principal "amp repair-wal")
    at each discarded index, so numbering resumes after the newest index
    ever written: no index a client was given is reused;
  - moves the damaged segments to <data-dir>/wal.damaged-<time>.
Stop amp serve and copy the data directory aside first. If the repair is
interrupted, run it again.`,
		Args: args(cobra.NoArgs),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			rep, err := store.RepairWAL(dataDir, apply, func(i uint64) []byte {
				return config.LostRecord(i, now, fmt.Sprintf("transaction %d was lost: its write-ahead log record was damaged on disk and discarded by amp repair-wal", i))
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if rep.Damage == nil {
				if rep.MovedTo == "" {
					fmt.Fprintf(out, "the write-ahead log in %s is intact: nothing to repair\n", dataDir)
				} else {
					fmt.Fprintf(out, "finished an interrupted repair in %s\n", dataDir)
				}
				return nil
			}
			d := rep.Damage
			fmt.Fprintf(out, "damaged: %s at offset %d (transaction %d); valid records follow up to transaction %d\n", d.File, d.Offset, d.Index, d.Highest)
			fmt.Fprintf(out, "kept: every transaction up to %d (%d in the store, %d more from the write-ahead log)\n", rep.LostFrom-1, rep.InStore, rep.Kept)
			if rep.LostTo >= rep.LostFrom {
				fmt.Fprintf(out, "discarded: transactions %d to %d (%d), each replaced by an empty tombstone; new transactions start at %d\n", rep.LostFrom, rep.LostTo, rep.LostTo-rep.LostFrom+1, rep.LostTo+1)
			} else {
				fmt.Fprintf(out, "discarded: nothing (the store already holds the damaged records)\n")
			}
			if !apply {
				return fmt.Errorf("nothing was changed: run again with --i-understand-data-loss to repair")
			}
			fmt.Fprintf(out, "repaired; the damaged segments are in %s\n", rep.MovedTo)
			return nil
		}),
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "amp serve's data directory (env AMP_DATA_DIR)")
	cmd.Flags().BoolVar(&apply, "i-understand-data-loss", false, "repair: discard the damaged transaction and every one after it (without it, only report)")
	return cmd
}
