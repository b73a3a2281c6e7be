package config

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/store"
	"github.com/amp-edge/amp/models"
)

// TestBackupOnlineRestore backs up while writers commit and compaction
// runs, restores into a fresh store, and checks that the engine on it holds
// exactly the source's objects and history at the backup's index.
func TestBackupOnlineRestore(t *testing.T) {
	sch, err := schema.Load(models.FS)
	if err != nil {
		t.Fatal(err)
	}
	set := sch.Set("aether", "2.1.x")
	src, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	e, err := Open(sch, src, Options{RetainCount: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	must := func(req *Request) *Result {
		t.Helper()
		res, err := e.Submit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	must(&Request{Targets: []TargetEdit{{Op: OpCreate, Name: "acme"}}})
	must(&Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", `{"qci":9}`), edit(t, set, OpMerge, "acme/site/s1", site)}})
	for i := 1; i <= 200; i++ {
		must(&Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", fmt.Sprintf(`{"qci":%d}`, i%9+1))}})
	}
	rb := must(&Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc2", `{"qci":5}`)}})
	must(&Request{Rollback: rb.Index})
	if err := src.Compact(10); err != nil { // nothing past the checkpoint goes
		t.Fatal(err)
	}
	e.checkpoint()
	e.commitMu.Lock()
	e.compact()
	e.commitMu.Unlock()

	// Writers and compaction keep going during the backup, for fewer
	// transactions than are retained, so the source can still show its
	// state at the backup's index afterwards.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			i := n.Add(1)
			if i > 100 {
				return
			}
			if _, err := e.Submit(ctx, &Request{Edits: []Edit{edit(t, set, OpMerge, "acme/traffic-class/tc1", fmt.Sprintf(`{"qci":%d}`, i%9+1))}}); err != nil {
				t.Error(err)
				return
			}
			if i%10 == 0 {
				e.checkpoint()
				e.commitMu.Lock()
				e.compact()
				e.commitMu.Unlock()
			}
		}
	}()
	var buf bytes.Buffer
	h, tr, err := e.Backup(&buf, backup.Header{Source: "bbolt"})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// The two metadata entries are the engine's own: history scanned for
	// retired enterprise ids (retire.go), keys versioned (upgrade.go).
	if h.Last == 0 || h.Checkpoint != h.Last || tr.Records == 0 || tr.Metas != 2 {
		t.Fatalf("header %+v trailer %+v", h, tr)
	}

	dst, err := store.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := backup.Restore(dst, &buf); err != nil {
		t.Fatal(err)
	}
	r, err := Open(sch, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Snapshot().Index != h.Last {
		t.Fatalf("restored index %d, want %d", r.Snapshot().Index, h.Last)
	}
	at, err := e.At(h.Last, "")
	if err != nil {
		t.Fatal(err)
	}
	objects := func(s *Snapshot) string {
		var b bytes.Buffer
		s.Objects.Root().Walk(func(k []byte, o *Object) bool {
			fmt.Fprintf(&b, "%s %x\n", k, encodeObject(o))
			return false
		})
		return b.String()
	}
	if got, want := objects(r.Snapshot()), objects(at); got != want {
		t.Fatalf("restored objects differ from the source's at %d:\n%s\nwant:\n%s", h.Last, got, want)
	}
	for i := tr.First; i <= h.Last; i++ {
		a, err := e.Transaction(i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.Transaction(i)
		if err != nil {
			t.Fatalf("restored transaction %d: %v", i, err)
		}
		if !bytes.Equal(encodeRecord(a), encodeRecord(b)) {
			t.Fatalf("transaction %d differs after the restore", i)
		}
	}
	if _, err := r.Transaction(tr.First - 1); err == nil && tr.First > 1 {
		t.Fatalf("transaction %d, compacted in the source, exists after the restore", tr.First-1)
	}
}
