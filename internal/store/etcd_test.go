package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// freePort asks the kernel for a free loopback port. It is released before
// etcd binds it, so another process could take it in between; that race is
// rare and only fails the test run, never a wrong result.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startEtcd runs a single-member etcd in a temp dir for the test and
// returns its client endpoint.
func startEtcd(t *testing.T) string {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "http", Host: freePort(t)}
	peer := url.URL{Scheme: "http", Host: freePort(t)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("etcd: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not become ready in 30s")
	}
	return client.String()
}

func openTestEtcd(t *testing.T, endpoint, prefix string) *Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{endpoint}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEtcdContract(t *testing.T) {
	ep := startEtcd(t)
	testStoreContract(t, func(t *testing.T) Store { return openTestEtcd(t, ep, "/contract") })
	// A different prefix is a different, empty store.
	other := openTestEtcd(t, ep, "/contract2/")
	defer other.Close()
	if other.LastIndex() != 0 {
		t.Fatalf("prefixes overlap: last %d", other.LastIndex())
	}
}

// TestEtcdLargeRecords: records beyond etcd's request limit are chunked and
// come back intact, alone and in a batch whose total is far over a single
// request; compaction removes their chunks.
func TestEtcdLargeRecords(t *testing.T) {
	ep := startEtcd(t)
	s := openTestEtcd(t, ep, "/big/")
	defer s.Close()
	big := make([]byte, 2<<20+12345) // over 2 MiB, not a multiple of the chunk size
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	if err := s.Commit([]Commit{{Index: 1, Log: big}}); err != nil {
		t.Fatal(err)
	}
	batch := []Commit{{Index: 2, Log: []byte("small")}, {Index: 3, Log: big[:etcdChunkSize+1]}, {Index: 4, Log: big[:etcdChunkSize]}, {Index: 5, Log: big[:etcdChunkSize]}}
	if err := s.Commit(batch); err != nil {
		t.Fatal(err)
	}
	want := map[uint64][]byte{1: big, 2: []byte("small"), 3: big[:etcdChunkSize+1], 4: big[:etcdChunkSize], 5: big[:etcdChunkSize]}
	n := 0
	if err := s.Log(1, 5, false, func(i uint64, v []byte) error {
		n++
		if !bytes.Equal(v, want[i]) {
			t.Errorf("record %d: %d bytes differ from the %d committed", i, len(v), len(want[i]))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("%d records", n)
	}
	// Many records in one batch: over etcd's 128 ops per txn.
	var many []Commit
	for i := uint64(6); i < 6+300; i++ {
		many = append(many, Commit{Index: i, Log: []byte(fmt.Sprint(i))})
	}
	if err := s.Commit(many); err != nil {
		t.Fatal(err)
	}
	n = 0
	if err := s.Log(6, 1000, true, func(i uint64, v []byte) error {
		if want := fmt.Sprint(305 - n); string(v) != want || fmt.Sprint(i) != want {
			t.Fatalf("record %d %q, want %s", i, v, want)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 300 {
		t.Fatalf("%d records of the big batch", n)
	}
	// Paging: small pages, both directions, and objects.
	defer func(p int64) { etcdPageSize = p }(etcdPageSize)
	etcdPageSize = 7
	var asc, desc []uint64
	if err := s.Log(10, 100, false, func(i uint64, _ []byte) error { asc = append(asc, i); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Log(10, 100, true, func(i uint64, _ []byte) error { desc = append(desc, i); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(asc) != 91 || asc[0] != 10 || asc[90] != 100 || len(desc) != 91 || desc[0] != 100 || desc[90] != 10 {
		t.Fatalf("paged log: ascending %v descending %v", asc, desc)
	}
	for i := 1; i < len(asc); i++ {
		if asc[i] != asc[i-1]+1 || desc[i] != desc[i-1]-1 {
			t.Fatalf("paged log out of order: ascending %v descending %v", asc, desc)
		}
	}
	var objs []KV
	for i := 0; i < 300; i++ { // over 128 ops: several txns
		objs = append(objs, KV{fmt.Sprintf("k%03d", i), []byte{byte(i)}})
	}
	if err := s.WriteObjects(objs, nil); err != nil {
		t.Fatal(err)
	}
	n = 0
	if err := s.Objects(func(k string, v []byte) error {
		if k != objs[n].Key || !bytes.Equal(v, objs[n].Value) {
			t.Fatalf("object %d: %s=%v", n, k, v)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 300 {
		t.Fatalf("%d objects", n)
	}
	if err := s.SetCheckpoint(5); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(100); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	resp, err := s.cli.Get(ctx, "/big/logchunk/", clientv3PrefixEnd("/big/logchunk/"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("%d chunks left after compaction", len(resp.Kvs))
	}
}

// TestEtcdConflict: two stores on one prefix both commit index N; exactly
// one wins, the other gets ErrConflict, including for a staged (chunked)
// commit, and the loser's staged keys never show.
func TestEtcdConflict(t *testing.T) {
	ep := startEtcd(t)
	a := openTestEtcd(t, ep, "/shared/")
	defer a.Close()
	b := openTestEtcd(t, ep, "/shared/")
	defer b.Close()
	if err := a.Commit([]Commit{{Index: 1, Log: []byte("a1")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit([]Commit{{Index: 1, Log: []byte("b1")}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second writer of index 1: %v", err)
	}
	big := bytes.Repeat([]byte("b"), 3*etcdChunkSize)
	if err := b.Commit([]Commit{{Index: 1, Log: big}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second writer of a chunked index 1: %v", err)
	}
	if err := a.Commit([]Commit{{Index: 2, Log: []byte("a2")}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := b.Log(1, 10, false, func(_ uint64, v []byte) error { got = append(got, string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a1 a2]" {
		t.Fatalf("log %v", got)
	}

	// Racing writers, chunked records: exactly one wins each index and
	// every published record is intact.
	c := openTestEtcd(t, ep, "/race/")
	defer c.Close()
	d := openTestEtcd(t, ep, "/race/")
	defer d.Close()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*Etcd{c, d} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := bytes.Repeat([]byte{byte('c' + i)}, 2*etcdChunkSize+10)
			errs[i] = s.Commit([]Commit{{Index: 1, Log: rec}, {Index: 2, Log: rec[:10]}})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrConflict):
			t.Fatalf("racing commit: %v", err)
		}
	}
	// The last writer to claim the stage key before either finished keeps
	// it, so exactly one wins.
	if wins != 1 {
		t.Fatalf("%d racing writers committed index 1: %v", wins, errs)
	}
	fresh := openTestEtcd(t, ep, "/race/")
	defer fresh.Close()
	var writers []byte
	if err := fresh.Log(1, 2, false, func(i uint64, v []byte) error {
		if len(v) == 0 || !bytes.Equal(v, bytes.Repeat(v[:1], len(v))) {
			t.Fatalf("record %d mixes writers", i)
		}
		writers = append(writers, v[0])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(writers) != 2 || writers[0] != writers[1] || fresh.LastIndex() != 2 {
		t.Fatalf("records from writers %q, last %d", writers, fresh.LastIndex())
	}
}

func TestParseEtcdURL(t *testing.T) {
	for _, tc := range []struct {
		in, endpoints, prefix, err string
	}{
		{in: "etcd://h1:2379,h2:2380/amp/prod", endpoints: "[http://h1:2379 http://h2:2380]", prefix: "/amp/prod"},
		{in: "etcds://h1", endpoints: "[https://h1:2379]", prefix: ""},
		{in: "etcd://[::1]:2379/", endpoints: "[http://[::1]:2379]", prefix: ""},
		{in: "h1:2379", err: "missing scheme"},
		{in: "http://h1:2379", err: "want etcd or etcds"},
		{in: "etcd:///amp", err: "no hosts"},
		{in: "etcd://h1,,h2", err: "host 2 is empty"},
		{in: "etcd://h1:x", err: "port"},
		{in: "etcd://u:p@h1", err: "credentials"},
		{in: "etcd://h1?x=1", err: "query"},
	} {
		cfg, err := ParseEtcdURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one naming %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if fmt.Sprint(cfg.Endpoints) != tc.endpoints || cfg.Prefix != tc.prefix || cfg.TLS != nil {
			t.Errorf("%s: endpoints %v prefix %q", tc.in, cfg.Endpoints, cfg.Prefix)
		}
	}
	if _, err := OpenEtcd(context.Background(), EtcdConfig{Endpoints: []string{"https://h1:2379"}}); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("https endpoint without TLS config: %v", err)
	}
}

func clientv3PrefixEnd(p string) clientv3.OpOption {
	return clientv3.WithRange(clientv3.GetPrefixRangeEnd(p))
}

// committed is how a commit whose txn errored (a timeout during an etcd
// leader change) learns whether it took effect: only its own record at
// the new "last" counts.
func TestEtcdCommittedResolvesAmbiguousOutcome(t *testing.T) {
	ep := startEtcd(t)
	s := openTestEtcd(t, ep, "/ambiguous/")
	small := []byte("one small record")
	big := bytes.Repeat([]byte("chunked "), etcdChunkSize/4) // over the chunk size
	if err := s.Commit([]Commit{{Index: 1, Log: small}, {Index: 2, Log: big}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		index uint64
		rec   []byte
		want  bool
	}{
		{2, big, true},                // our batch reached etcd
		{2, []byte("another"), false}, // another writer's record at that index
		{1, small, false},             // "last" is not there: not committed
		{3, small, false},             // "last" never reached it
	} {
		got, err := s.committed(tc.index, tc.rec)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("committed(%d, %.10q) = %v, want %v", tc.index, tc.rec, got, tc.want)
		}
	}
}

// TestEtcdLogReportsAMissingRecord: a log key deleted under the prefix
// (outside AMP) between first and last is reported, not skipped.
func TestEtcdLogReportsAMissingRecord(t *testing.T) {
	ep := startEtcd(t)
	s := openTestEtcd(t, ep, "/hole/")
	defer s.Close()
	for i := 1; i <= 5; i++ {
		if err := s.Commit([]Commit{{Index: uint64(i), Log: []byte("r")}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client().Delete(context.Background(), s.logKey(3)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to uint64
		reverse  bool
	}{{1, 5, false}, {1, 5, true}, {3, 5, false}, {1, 3, true}} {
		err := s.Log(c.from, c.to, c.reverse, func(uint64, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "log record 3 is missing") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
