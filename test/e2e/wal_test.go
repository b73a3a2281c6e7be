package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
)

// walRec is one record of a WAL segment, read with the format
// internal/store/wal.go documents: uint32 length | uint32 CRC | uint64
// index | payload, little-endian, up to the first zero length.
type walRec struct {
	off     int64
	index   uint64
	payload []byte
}

func readWALSegment(t *testing.T, path string) []walRec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []walRec
	for off := 0; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 || off+16+n > len(b) {
			break
		}
		out = append(out, walRec{int64(off), binary.LittleEndian.Uint64(b[off+8:]), b[off+16 : off+16+n]})
		off += 16 + n
	}
	return out
}

// TestWALBitFlipRefusedThenRepaired: one flipped bit in an acknowledged
// record in the middle of the write-ahead log used to make amp serve start
// with every later transaction silently gone, and give their indexes out
// again. Now amp serve refuses to start, naming the file, the offset and
// the transaction; amp repair-wal reports what it would do and changes
// nothing, then, told --i-understand-data-loss, keeps what precedes the
// damage; the server starts, no index is reused, and every index after the
// damage holds either its original transaction (when it had already
// reached bbolt) or a tombstone that says it was lost.
func TestWALBitFlipRefusedThenRepaired(t *testing.T) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	s, err := testenv.StartErr(bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1", site)
	const sims = 60
	for i := 1; i <= sims; i++ {
		s.Must(t, 201, "POST", fmt.Sprintf("/aether/v2.1.x/acme/site/s1/sim-card/sim-%d", i), fmt.Sprintf(`{"sim-id":"sim-%d","imsi":"315010001%06d"}`, i, i))
	}
	s.Kill()

	segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if len(segs) != 1 {
		t.Fatalf("wal segments: %v", segs)
	}
	recs := readWALSegment(t, segs[0])
	if len(recs) < sims {
		t.Fatalf("the WAL holds %d records, want at least the %d acknowledged SIM writes", len(recs), sims)
	}
	simOf := map[uint64]string{} // transaction index -> the SIM it created
	re := regexp.MustCompile(`sim-[0-9]+`)
	for _, r := range recs {
		simOf[r.index] = re.FindString(string(r.payload))
	}
	hit := recs[len(recs)-sims/2]
	highest := recs[len(recs)-1].index
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, hit.off+16+7)
	b[0] ^= 0x04
	f.WriteAt(b, hit.off+16+7)
	f.Close()

	// amp serve refuses, and says where.
	refusal := func(when string) string {
		// The timeout only ends a server that wrongly started.
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0").CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("%s: amp serve started on a WAL with a damaged acknowledged record:\n%s", when, out)
		}
		return string(out)
	}
	msg := refusal("after the bit flip")
	for _, want := range []string{segs[0], "offset " + strconv.FormatInt(hit.off, 10), "transaction " + strconv.FormatUint(hit.index, 10), "amp repair-wal"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, msg)
		}
	}
	// Without the flag: a report, nothing changed.
	out, err := exec.Command(bin, "repair-wal", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "nothing was changed") {
		t.Fatalf("repair-wal without --i-understand-data-loss: %v\n%s", err, out)
	}
	refusal("after a report-only repair-wal")
	out, err = exec.Command(bin, "repair-wal", "--data-dir", dir, "--i-understand-data-loss").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "repaired") {
		t.Fatalf("repair-wal: %v\n%s", err, out)
	}
	t.Logf("amp repair-wal:\n%s", out)

	s2 := startWithToken(t, bin, s, dir)
	newest := func() uint64 {
		var l []struct{ Index uint64 }
		json.Unmarshal(s2.Must(t, 200, "GET", "/transactions?limit=1", ""), &l)
		if len(l) != 1 {
			t.Fatal("no transaction listed")
		}
		return l[0].Index
	}
	if got := newest(); got != highest {
		t.Fatalf("after repair the newest transaction is %d, want %d (the newest ever acknowledged)", got, highest)
	}
	for i := recs[0].index; i <= highest; i++ {
		var txn struct {
			Username string
			Changes  []struct{ Path string }
		}
		json.Unmarshal(s2.Must(t, 200, "GET", fmt.Sprintf("/transactions/%d", i), ""), &txn)
		sim := simOf[i]
		kept := len(txn.Changes) > 0 && (sim == "" || strings.HasSuffix(txn.Changes[0].Path, "/"+sim))
		switch {
		case i < hit.index && !kept:
			t.Errorf("transaction %d, before the damage, was not kept: %+v", i, txn)
		case i >= hit.index && !kept && txn.Username != "amp repair-wal":
			t.Errorf("transaction %d is neither the original nor a tombstone: %+v", i, txn)
		}
		code, _, _, _ := s2.Do(t.Context(), "GET", "/aether/v2.1.x/acme/site/s1/sim-card/"+sim, "")
		if sim != "" && (code == 200) != kept {
			t.Errorf("%s: status %d, but its transaction %d kept = %v", sim, code, i, kept)
		}
	}
	s2.Must(t, 201, "POST", "/aether/v2.1.x/acme/site/s1/sim-card/after", `{"sim-id":"after","imsi":"315010009000001"}`)
	if got := newest(); got != highest+1 {
		t.Fatalf("the first write after the repair is transaction %d, want %d: an index was reused", got, highest+1)
	}
}
