package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/amp-edge/amp/internal/backup"
	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// BenchmarkBackupRestoreCLI (issue 5): `amp backup` of a running `amp
// serve` holding about 1,000,000 leaves (the demo data plus 150,000 SIM
// cards and 150,000 devices from `amp import`: 7 leaves a row) and a
// history of 10,000 more one-leaf transactions, then `amp
// restore` of that file into a fresh bbolt data dir, both through the real
// binaries, and of the same file into a prefix of a one-member etcd
// (Debian's etcd-server). Targets: backup <= 10 s, restore <= 30 s.
// Baselines in the same run: copying the server's bbolt file (read, write,
// fsync) for the backup; writing the backup's objects and log records into
// a fresh raw bbolt file (10,000 puts per transaction) or into etcd (txns of
// 128 puts), no AMP code, for the restores.
//
//	go test -run '^$' -bench BackupRestoreCLI -benchtime 1x -count 2 ./test/e2e/
func BenchmarkBackupRestoreCLI(b *testing.B) {
	bin := testenv.Binary(b)
	c := etcd.Start(b, 1)
	csv := filepath.Join(b.TempDir(), "sims.csv")
	f, err := os.Create(csv)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	// 7 leaves a row: the SIM's id, ICCID and IMSI; the device's id, IMEI,
	// display name and SIM reference.
	fmt.Fprintln(w, "enterprise,site,sim-id,iccid,imsi,device-id,imei,display-name")
	for i := 0; i < 150_000; i++ {
		fmt.Fprintf(w, "acme,acme-chicago,b%d,88%016dF,315010%09d,bd%d,%015d,Device %d\n", i, i, i, i, i, i)
	}
	w.Flush()
	f.Close()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := testenv.Start(b, b.TempDir(), "--demo")
		cli := func(env []string, args ...string) time.Duration {
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			t0 := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("amp %s: %v\n%s", args[0], err, out)
			}
			return time.Since(t0)
		}
		cli(s.Env(), "import", "--timeout", "10m", csv)
		smallTransactions(b, s, 10_000)
		file := filepath.Join(b.TempDir(), "amp.ampbak")
		key := filepath.Join(s.DataDir, "backup.key")

		b.StartTimer()
		backupTime := cli(s.Env(), "backup", file)
		b.StopTimer()
		copyTime, dbSize := copyFile(b, filepath.Join(s.DataDir, "amp.db"), filepath.Join(b.TempDir(), "amp.db"))
		s.Stop()

		b.StartTimer()
		restoreTime := cli(os.Environ(), "restore", file, "--backup-key", key, "--data-dir", b.TempDir())
		b.StopTimer()
		kvs, sum := loadBackup(b, file)
		rawTime := rawBoltWrite(b, kvs, filepath.Join(b.TempDir(), "raw.db"))

		prefix := fmt.Sprintf("/bench-%d/", i)
		b.StartTimer()
		etcdTime := cli(os.Environ(), "restore", file, "--backup-key", key, "--store", "etcd://"+c.Endpoints()+prefix, "--data-dir", b.TempDir())
		b.StopTimer()
		rawEtcdTime := rawEtcdWrite(b, kvs, c.Endpoints(), "/raw-"+prefix[1:])

		b.ReportMetric(backupTime.Seconds(), "backup-s")
		b.ReportMetric(copyTime.Seconds(), "copy-db-s")
		b.ReportMetric(backupTime.Seconds()/copyTime.Seconds(), "backup/copy")
		b.ReportMetric(restoreTime.Seconds(), "restore-s")
		b.ReportMetric(rawTime.Seconds(), "raw-bbolt-s")
		b.ReportMetric(restoreTime.Seconds()/rawTime.Seconds(), "restore/raw")
		b.ReportMetric(etcdTime.Seconds(), "restore-etcd-s")
		b.ReportMetric(rawEtcdTime.Seconds(), "raw-etcd-s")
		b.ReportMetric(etcdTime.Seconds()/rawEtcdTime.Seconds(), "restore-etcd/raw")
		b.ReportMetric(float64(sum.Bytes)/(1<<20), "backup-MiB")
		b.ReportMetric(float64(dbSize)/(1<<20), "db-MiB")
		b.ReportMetric(float64(sum.Trailer.Objects), "objects")
		b.ReportMetric(float64(sum.Trailer.Records), "records")
	}
}

// smallTransactions commits n one-leaf transactions, 8 writers at a time,
// so the backup carries a history of many records, not only the import's.
func smallTransactions(b *testing.B, s *testenv.Server, n int) {
	b.Helper()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				path := fmt.Sprintf("/aether/v2.1.x/acme/site/acme-chicago/sim-card/b%d", i)
				code, body, _, err := s.Do(context.Background(), "PATCH", path, fmt.Sprintf(`{"display-name":"SIM %d"}`, i))
				if err == nil && code != 200 {
					err = fmt.Errorf("PATCH %s: status %d: %s", path, code, body)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// copyFile copies src to dst and syncs it: the cost of a raw file backup.
func copyFile(b *testing.B, src, dst string) (time.Duration, int64) {
	b.Helper()
	t0 := time.Now()
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if err := errors.Join(err, out.Close()); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0), n
}

type benchKV struct {
	bucket string
	k, v   []byte
}

// loadBackup reads a backup's objects and log records into memory.
func loadBackup(b *testing.B, file string) ([]benchKV, backup.Summary) {
	b.Helper()
	f, err := os.Open(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	br, err := backup.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var kvs []benchKV
	for {
		it, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		switch it.Kind {
		case backup.KindObject:
			kvs = append(kvs, benchKV{"obj/", []byte(it.Key), append([]byte(nil), it.Value...)})
		case backup.KindRecord:
			kvs = append(kvs, benchKV{"log/", fmt.Appendf(nil, "%020d", it.Index), append([]byte(nil), it.Value...)})
		}
	}
	return kvs, backup.Summary{Header: br.Header, Trailer: br.Trailer, Bytes: br.Bytes()}
}

// rawBoltWrite writes kvs into a fresh bbolt file the plainest way: 10,000
// puts per synced transaction.
func rawBoltWrite(b *testing.B, kvs []benchKV, dst string) time.Duration {
	b.Helper()
	t0 := time.Now()
	db, err := bolt.Open(dst, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < len(kvs); i += 10_000 {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, x := range kvs[i:min(i+10_000, len(kvs))] {
				bk, err := tx.CreateBucketIfNotExists([]byte(x.bucket))
				if err != nil {
					return err
				}
				if err := bk.Put(x.k, x.v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}

// rawEtcdWrite writes kvs under prefix with plain etcd txns of at most
// 128 puts and 1 MiB (etcd's default limits), one after another.
func rawEtcdWrite(b *testing.B, kvs []benchKV, endpoints, prefix string) time.Duration {
	b.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(endpoints, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	// Values over etcd's request limit go in 512 KiB chunks, as AMP's
	// store splits them.
	var puts []benchKV
	for _, x := range kvs {
		for off := 0; off == 0 || off < len(x.v); off += 512 << 10 {
			puts = append(puts, benchKV{x.bucket, fmt.Appendf(nil, "%s/%06d", x.k, off), x.v[off:min(off+512<<10, len(x.v))]})
		}
	}
	kvs = puts
	t0 := time.Now()
	for i := 0; i < len(kvs); {
		var ops []clientv3.Op
		size := 0
		for ; i < len(kvs) && len(ops) < 128 && (len(ops) == 0 || size+len(kvs[i].v) < 1<<20); i++ {
			ops = append(ops, clientv3.OpPut(prefix+kvs[i].bucket+string(kvs[i].k), string(kvs[i].v)))
			size += len(kvs[i].k) + len(kvs[i].v)
		}
		if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0)
}
