package store

// The etcd backend keeps AMP's state in an etcd cluster, so several AMP
// processes (one writer at a time) can share it and etcd's own replication
// provides durability.
//
// Key layout, every key under EtcdConfig.Prefix (default "/amp/"):
//
//	log/<20-digit zero-padded index>       one log record (see "log values")
//	logchunk/<20-digit index>/<6-digit n>   chunk n of a record too big for one etcd request
//	obj/<key>                              checkpoint objects
//	meta/<key>                             GetMeta/PutMeta settings
//	state/<key>                            an object's operational state (not versioned; etcd_state.go)
//	last                                   newest committed index (20-digit decimal)
//	first                                  oldest retained index (20-digit decimal)
//	checkpoint                             checkpoint index (20-digit decimal)
//	stage                                  token of the writer currently staging keys (see Commit)
//
// The indexes are zero-padded decimals so they are readable with etcdctl and
// so etcd's byte-wise key order and value comparisons are numeric order.
//
// Log values start with one tag byte so a record can never be mistaken for
// a chunk marker: 0x00 followed by the record itself, or 0x01 followed by
// "<chunks> <total length>" in decimal, the record then being the
// concatenation of logchunk/<index>/000000 .. <chunks-1>.
//
// Visibility is decided by "last": readers never look at log keys above it,
// so keys written above it by a commit that has not finished (or failed)
// are invisible, and are overwritten by whichever commit later claims those
// indexes.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// ErrConflict is returned by Commit when the log's last index in etcd is not
// the one before the batch: another writer (another AMP replica) committed
// in between. The caller reads the records it missed with Log and retries
// with the indexes after them.
var ErrConflict = errors.New("store: another writer moved the log index")

// EtcdConfig says how to reach etcd.
type EtcdConfig struct {
	Endpoints []string
	// Prefix is prepended to every key; default "/amp/". A missing
	// trailing slash is added so "/amp" cannot collide with "/amplifier".
	Prefix      string
	DialTimeout time.Duration
	// TLS is required when an endpoint uses https://.
	TLS *tls.Config
	// DialOptions are added to the client's gRPC connection (the server
	// passes an interceptor that times every etcd request for /metrics).
	DialOptions []grpc.DialOption
}

const (
	defaultEtcdPrefix = "/amp/"
	// etcd rejects requests over 1.5 MiB (--max-request-bytes) and txns of
	// more than 128 operations (--max-txn-ops) by default. We stay well
	// under both so a default-configured cluster works.
	etcdChunkSize = 512 << 10 // records larger than this are split into chunks
	etcdTxnBytes  = 1 << 20   // payload budget of one txn
	etcdTxnOps    = 128
	// Store methods take no context; each etcd request gets this long, so
	// an unreachable cluster surfaces as an error instead of a hang.
	etcdRequestTimeout = 30 * time.Second
)

// etcdPageSize is the keys per range read, so huge histories are streamed
// rather than read at once. A variable so tests can exercise paging.
var etcdPageSize int64 = 1000

const (
	logTagInline  = 0x00
	logTagChunked = 0x01
)

// Etcd is the store in an etcd cluster.
type Etcd struct {
	cli    *clientv3.Client
	prefix string
	ctx    context.Context
	cancel context.CancelFunc

	// The newest values of the index keys this process knows of, from its
	// own writes and from watching the keys (other replicas' writes). They
	// only move forward.
	last       atomic.Uint64
	first      atomic.Uint64
	checkpoint atomic.Uint64
	// changed is signalled (never blocking, one pending signal at most)
	// when "last" moves: another replica may have committed.
	changed chan struct{}

	stateOnce sync.Once
	states    chan StateChange // etcd_state.go
}

// ParseEtcdURL parses etcd://host1:2379,host2:2379/prefix (etcds:// for
// TLS). A host without a port gets etcd's 2379. For etcds the returned TLS
// is nil: certificates are the caller's to supply.
func ParseEtcdURL(s string) (EtcdConfig, error) {
	var cfg EtcdConfig
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return cfg, fmt.Errorf("etcd url %q: missing scheme, want etcd:// or etcds://", s)
	}
	var httpScheme string
	switch strings.ToLower(scheme) {
	case "etcd":
		httpScheme = "http://"
	case "etcds":
		httpScheme = "https://"
	default:
		return cfg, fmt.Errorf("etcd url %q: scheme %q, want etcd or etcds", s, scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		return cfg, fmt.Errorf("etcd url %q: query and fragment are not supported", s)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		return cfg, fmt.Errorf("etcd url %q: credentials in the url are not supported", s)
	}
	if hosts == "" {
		return cfg, fmt.Errorf("etcd url %q: no hosts", s)
	}
	for i, h := range strings.Split(hosts, ",") {
		if h == "" {
			return cfg, fmt.Errorf("etcd url %q: host %d is empty", s, i+1)
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			// No port (or a bare IPv6 address): use etcd's client port.
			host, port = strings.Trim(h, "[]"), "2379"
			if strings.ContainsAny(host, "[]") {
				return cfg, fmt.Errorf("etcd url %q: host %q: %v", s, h, err)
			}
		}
		if host == "" {
			return cfg, fmt.Errorf("etcd url %q: host %q has no name", s, h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return cfg, fmt.Errorf("etcd url %q: host %q: port %q is not a number in 1-65535", s, h, port)
		}
		cfg.Endpoints = append(cfg.Endpoints, httpScheme+net.JoinHostPort(host, port))
	}
	if path != "" {
		cfg.Prefix = "/" + path
	}
	return cfg, nil
}

func normPrefix(p string) string {
	if p == "" || p == "/" {
		return defaultEtcdPrefix
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// OpenEtcd connects to etcd and loads (initialising if absent) the indexes
// under cfg.Prefix. ctx bounds only the opening; the store's requests each
// get their own timeout.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: open: no endpoints")
	}
	for _, ep := range cfg.Endpoints {
		// Fail instead of silently talking plaintext to an https endpoint.
		if strings.HasPrefix(ep, "https://") && cfg.TLS == nil {
			return nil, fmt.Errorf("etcd: open: endpoint %s needs a TLS config", ep)
		}
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         cfg.TLS,
		DialOptions: cfg.DialOptions,
		// Pings find a member that stopped answering (hung, or behind a
		// partition that keeps connections open), so requests move to
		// another. etcd refuses pings more often than every 5 s.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		// The client's default logger writes to stderr; AMP reports errors itself.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: open %v: %w", cfg.Endpoints, err)
	}
	e := &Etcd{cli: cli, prefix: normPrefix(cfg.Prefix), changed: make(chan struct{}, 1)}
	// Without a deadline from the caller, an unreachable cluster would
	// hang the open forever (the client dials lazily).
	ctx, cancel := context.WithTimeout(ctx, etcdRequestTimeout)
	defer cancel()
	e.ctx, e.cancel = context.WithCancel(context.Background())
	for _, k := range []struct {
		name string
		def  uint64
		dst  *atomic.Uint64
	}{{"last", 0, &e.last}, {"first", 1, &e.first}, {"checkpoint", 0, &e.checkpoint}} {
		v, err := e.initIndex(ctx, k.name, k.def)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("etcd: open %v prefix %s: %w", cfg.Endpoints, e.prefix, err)
		}
		k.dst.Store(v)
	}
	go e.watchIndexes()
	return e, nil
}

// storeMax raises a to v; the index keys never move back, and a watch
// event can arrive after a newer value was learnt another way.
func storeMax(a *atomic.Uint64, v uint64) bool {
	for {
		cur := a.Load()
		if v <= cur {
			return false
		}
		if a.CompareAndSwap(cur, v) {
			return true
		}
	}
}

// Client is the etcd client, for the replicas' elections (one connection).
func (e *Etcd) Client() *clientv3.Client { return e.cli }

// Prefix is the key prefix, with its trailing slash.
func (e *Etcd) Prefix() string { return e.prefix }

// Changed implements Shared.
func (e *Etcd) Changed() <-chan struct{} { return e.changed }

func (e *Etcd) signalChanged() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// watchIndexes keeps last, first and checkpoint current while other
// replicas commit, compact and checkpoint. One watch covers the three keys:
// they are adjacent in key order ("checkpoint" < "first" < "last" and no
// other key of the layout sorts between them). Whenever the watch breaks
// (member lost its leader, revision compacted) the keys are read afresh
// and watched again from that revision, so no move is missed.
func (e *Etcd) watchIndexes() {
	from, to := e.prefix+"checkpoint", e.prefix+"last\x00"
	for e.ctx.Err() == nil {
		rev, err := e.readIndexes()
		if err != nil {
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		// WithRequireLeader: a member cut off from the cluster ends the
		// watch instead of going silent, and the client moves elsewhere.
		wch := e.cli.Watch(clientv3.WithRequireLeader(e.ctx), from, clientv3.WithRange(to), clientv3.WithRev(rev+1))
		for resp := range wch {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					e.learnIndex(strings.TrimPrefix(string(ev.Kv.Key), e.prefix), ev.Kv.Value)
				}
			}
		}
	}
}

// readIndexes reads the three index keys at one revision and returns it.
func (e *Etcd) readIndexes() (int64, error) {
	ctx, cancel := e.reqCtx()
	defer cancel()
	resp, err := e.cli.Get(ctx, e.prefix+"checkpoint", clientv3.WithRange(e.prefix+"last\x00"))
	if err != nil {
		return 0, fmt.Errorf("etcd: read indexes: %w", err)
	}
	for _, kv := range resp.Kvs {
		e.learnIndex(strings.TrimPrefix(string(kv.Key), e.prefix), kv.Value)
	}
	return resp.Header.Revision, nil
}

func (e *Etcd) learnIndex(name string, v []byte) {
	dst := map[string]*atomic.Uint64{"last": &e.last, "first": &e.first, "checkpoint": &e.checkpoint}[name]
	if dst == nil {
		return
	}
	i, err := parseIndex(name, v)
	if err != nil {
		return
	}
	if storeMax(dst, i) && name == "last" {
		e.signalChanged()
	}
}

// initIndex reads an index key, creating it with def if it does not exist.
// The create is guarded so two processes opening an empty prefix at once
// cannot overwrite each other's first commit.
func (e *Etcd) initIndex(ctx context.Context, name string, def uint64) (uint64, error) {
	k := e.prefix + name
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, padIndex(def))).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", name, err)
	}
	if resp.Succeeded {
		return def, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) != 1 {
		return 0, fmt.Errorf("read %s: key vanished", name)
	}
	return parseIndex(name, kvs[0].Value)
}

func padIndex(i uint64) string { return fmt.Sprintf("%020d", i) }

func parseIndex(name string, v []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s holds %q, not an index", name, v)
	}
	return n, nil
}

func (e *Etcd) logKey(i uint64) string { return e.prefix + "log/" + padIndex(i) }
func (e *Etcd) chunkKey(i uint64, n int) string {
	return fmt.Sprintf("%slogchunk/%020d/%06d", e.prefix, i, n)
}

// reqCtx bounds one request. WithRequireLeader makes a member that has
// lost its leader (cut off from the others) refuse at once instead of
// holding the request until it times out, so the client tries another.
func (e *Etcd) reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(e.ctx), etcdRequestTimeout)
}

// Commit implements Store.
//
// The common case (small records, at most 127 of them) is one txn that
// compares "last" with the index this process expects and writes the
// records and the new "last" together.
//
// A record over etcdChunkSize, or a batch over one request's ops or bytes,
// cannot go in one txn. Its extra keys (chunks, and if need be the log
// records themselves) are staged first, in as many txns as it takes; they
// are invisible because readers stop at "last". Then one guarded txn moves
// "last", which publishes the whole batch at once: readers see all of it or
// none, and a crash midway leaves only invisible garbage that the next
// commit overwrites. Staging keys is only safe if no other writer can
// overwrite them between our staging and our final txn, so the first
// staging txn claims the "stage" key with a random token, every later
// staging txn and the final one require that token: if another writer
// claimed it meanwhile (and so may have written over our keys), our final
// txn fails with ErrConflict instead of publishing its keys.
func (e *Etcd) Commit(batch []Commit) error {
	if len(batch) == 0 {
		return nil
	}
	// The guard is the index before the batch, not the newest one this
	// process knows of: the caller (the config engine) decides the indexes
	// from the state it has applied, and a conflict tells it to catch up.
	expect := batch[0].Index - 1
	last := expect
	for _, c := range batch {
		if c.Index != last+1 {
			return fmt.Errorf("etcd: commit %d: index does not follow %d", c.Index, last)
		}
		last = c.Index
	}
	first := batch[0].Index

	var staged, final []clientv3.Op
	var finalBytes int
	for _, c := range batch {
		if len(c.Log) <= etcdChunkSize {
			v := make([]byte, 1+len(c.Log))
			v[0] = logTagInline
			copy(v[1:], c.Log)
			final = append(final, clientv3.OpPut(e.logKey(c.Index), string(v)))
			finalBytes += len(v)
			continue
		}
		n := 0
		for off := 0; off < len(c.Log); off += etcdChunkSize {
			end := min(off+etcdChunkSize, len(c.Log))
			staged = append(staged, clientv3.OpPut(e.chunkKey(c.Index, n), string(c.Log[off:end])))
			n++
		}
		marker := fmt.Sprintf("%c%d %d", logTagChunked, n, len(c.Log))
		final = append(final, clientv3.OpPut(e.logKey(c.Index), marker))
		finalBytes += len(marker)
	}
	if len(final)+1 > etcdTxnOps || finalBytes > etcdTxnBytes {
		// The records do not fit one txn with "last": stage them too.
		staged = append(staged, final...)
		final = nil
	}

	lastKey, stageKey := e.prefix+"last", e.prefix+"stage"
	guard := []clientv3.Cmp{clientv3.Compare(clientv3.Value(lastKey), "=", padIndex(expect))}
	if len(staged) > 0 {
		var tok [16]byte
		if _, err := rand.Read(tok[:]); err != nil {
			return fmt.Errorf("etcd: commit %d: stage token: %w", first, err)
		}
		token := hex.EncodeToString(tok[:])
		claimed := false
		for len(staged) > 0 {
			var ops []clientv3.Op
			cmps := guard
			if !claimed {
				ops = append(ops, clientv3.OpPut(stageKey, token))
			} else {
				cmps = append(cmps[:len(cmps):len(cmps)], clientv3.Compare(clientv3.Value(stageKey), "=", token))
			}
			size := 0
			for len(staged) > 0 && len(ops) < etcdTxnOps {
				// At least one op per txn; a chunk alone is under the budget.
				sz := len(staged[0].KeyBytes()) + len(staged[0].ValueBytes())
				if len(ops) > 0 && size+sz > etcdTxnBytes {
					break
				}
				ops = append(ops, staged[0])
				size += sz
				staged = staged[1:]
			}
			if err := e.guardedTxn(first, cmps, ops); err != nil {
				return err
			}
			claimed = true
		}
		guard = append(guard, clientv3.Compare(clientv3.Value(stageKey), "=", token))
	}
	final = append(final, clientv3.OpPut(lastKey, padIndex(last)))
	if err := e.guardedTxn(first, guard, final); err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		// The txn's outcome is unknown (a timeout during a leader change
		// may still commit). Find out, so a committed batch is not
		// reported as failed. If etcd cannot say, the caller gets an
		// error that says the outcome is unknown; should the batch have
		// committed after all, the next commit conflicts and the caller
		// catches up with it from the log.
		committed, rerr := e.resolve(last, batch[len(batch)-1].Log)
		if rerr != nil {
			return fmt.Errorf("%w; outcome unknown: %v", err, rerr)
		}
		if !committed {
			return err
		}
	}
	storeMax(&e.last, last)
	return nil
}

// resolveFor bounds how long Commit keeps asking etcd whether a txn whose
// reply was lost committed: long enough for an election (etcd's own
// request timeout is 7 s with default settings), short enough that writers
// behind it get an answer.
const resolveFor = 20 * time.Second

// resolve asks committed until etcd answers or resolveFor passes.
func (e *Etcd) resolve(index uint64, rec []byte) (bool, error) {
	deadline := time.Now().Add(resolveFor)
	for {
		ok, err := e.committed(index, rec)
		if err == nil || time.Now().After(deadline) || e.ctx.Err() != nil {
			return ok, err
		}
		select {
		case <-e.ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// committed reports whether "last" in etcd is index and the record there
// is rec: whether a commit whose txn returned an error did take effect.
// Under the guard, "last" can only have reached index through our txn or
// through another writer's, and the record tells them apart.
func (e *Etcd) committed(index uint64, rec []byte) (bool, error) {
	ctx, cancel := e.reqCtx()
	defer cancel()
	resp, err := e.cli.Txn(ctx).Then(clientv3.OpGet(e.prefix+"last"), clientv3.OpGet(e.logKey(index))).Commit()
	if err != nil {
		return false, fmt.Errorf("etcd: commit %d: resolve outcome: %w", index, err)
	}
	lastKVs := resp.Responses[0].GetResponseRange().Kvs
	if len(lastKVs) == 0 || string(lastKVs[0].Value) != padIndex(index) {
		return false, nil
	}
	recKVs := resp.Responses[1].GetResponseRange().Kvs
	if len(recKVs) == 0 {
		return false, nil
	}
	got, err := e.decodeLog(index, recKVs[0].Value, resp.Header.Revision)
	if err != nil {
		return false, err
	}
	return bytes.Equal(got, rec), nil
}

func (e *Etcd) guardedTxn(index uint64, cmps []clientv3.Cmp, ops []clientv3.Op) error {
	ctx, cancel := e.reqCtx()
	defer cancel()
	// On failure, read "last" in the same txn, so the caller's catch-up
	// knows how far to read without waiting for the watch.
	resp, err := e.cli.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(e.prefix + "last")).Commit()
	if err != nil {
		return fmt.Errorf("etcd: commit %d: %w", index, err)
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			e.learnIndex("last", kvs[0].Value)
		}
		return fmt.Errorf("etcd: commit %d: %w", index, ErrConflict)
	}
	return nil
}

// Log implements Store. It reads "first" and "last" and then every page at
// one etcd revision, so the records it returns are one consistent snapshot
// even while another process commits or compacts.
func (e *Etcd) Log(from, to uint64, reverse bool, fn func(uint64, []byte) error) error {
	ctx, cancel := e.reqCtx()
	defer cancel()
	resp, err := e.cli.Txn(ctx).Then(clientv3.OpGet(e.prefix+"first"), clientv3.OpGet(e.prefix+"last")).Commit()
	if err != nil {
		return fmt.Errorf("etcd: log %d-%d: %w", from, to, err)
	}
	rev := resp.Header.Revision
	var idx [2]uint64
	for i, name := range []string{"first", "last"} {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		if len(kvs) != 1 {
			return fmt.Errorf("etcd: log %d-%d: %s is missing", from, to, name)
		}
		if idx[i], err = parseIndex(name, kvs[0].Value); err != nil {
			return fmt.Errorf("etcd: log %d-%d: %w", from, to, err)
		}
	}
	if from < idx[0] {
		return ErrCompacted
	}
	to = min(to, idx[1]) // keys above last are unpublished
	if from > to {
		return nil
	}
	lo, hi := from, to // the indexes not yet read
	for lo <= hi {
		opts := []clientv3.OpOption{
			clientv3.WithRange(e.logKey(hi + 1)), clientv3.WithRev(rev), clientv3.WithLimit(etcdPageSize),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend),
		}
		if reverse {
			opts[3] = clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)
		}
		ctx, cancel := e.reqCtx()
		page, err := e.cli.Get(ctx, e.logKey(lo), opts...)
		cancel()
		if err != nil {
			return fmt.Errorf("etcd: log %d-%d: %w", lo, hi, err)
		}
		if len(page.Kvs) == 0 {
			return e.missingLog(lo, hi, reverse, 0)
		}
		for _, kv := range page.Kvs {
			i, err := strconv.ParseUint(strings.TrimPrefix(string(kv.Key), e.prefix+"log/"), 10, 64)
			if err != nil {
				return fmt.Errorf("etcd: log: bad key %q", kv.Key)
			}
			if !reverse && i != lo || reverse && i != hi {
				return e.missingLog(lo, hi, reverse, i)
			}
			rec, err := e.decodeLog(i, kv.Value, rev)
			if err != nil {
				return err
			}
			if err := fn(i, rec); err != nil {
				return err
			}
			if reverse {
				if i == 0 {
					return nil
				}
				hi = i - 1
			} else {
				lo = i + 1
			}
		}
		if !page.More {
			return nil
		}
	}
	return nil
}

// missingLog reports a hole in the log between first and last: every
// index there has its record (Commit writes it before moving last), so a
// hole is damage or an outside deletion, reported rather than skipped.
func (e *Etcd) missingLog(lo, hi uint64, reverse bool, found uint64) error {
	want := lo
	if reverse {
		want = hi
	}
	if found == 0 {
		return fmt.Errorf("etcd: log record %d is missing under %slog/ (records %d to %d are absent): the prefix was damaged or edited outside AMP; restore a backup", want, e.prefix, lo, hi)
	}
	return fmt.Errorf("etcd: log record %d is missing under %slog/ (the next one there is %d): the prefix was damaged or edited outside AMP; restore a backup", want, e.prefix, found)
}

// decodeLog turns a log value into the record, fetching its chunks (one
// request each, so no response carries more than one chunk) if it has any.
func (e *Etcd) decodeLog(i uint64, v []byte, rev int64) ([]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("etcd: log %d: empty value", i)
	}
	switch v[0] {
	case logTagInline:
		return v[1:], nil
	case logTagChunked:
	default:
		return nil, fmt.Errorf("etcd: log %d: unknown record tag %#x", i, v[0])
	}
	var n, size int
	if _, err := fmt.Sscanf(string(v[1:]), "%d %d", &n, &size); err != nil || n < 1 || size < 0 {
		return nil, fmt.Errorf("etcd: log %d: bad chunk marker %q", i, v[1:])
	}
	rec := make([]byte, 0, size)
	for c := 0; c < n; c++ {
		ctx, cancel := e.reqCtx()
		resp, err := e.cli.Get(ctx, e.chunkKey(i, c), clientv3.WithRev(rev))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("etcd: log %d: chunk %d: %w", i, c, err)
		}
		if len(resp.Kvs) != 1 {
			return nil, fmt.Errorf("etcd: log %d: chunk %d of %d is missing", i, c, n)
		}
		rec = append(rec, resp.Kvs[0].Value...)
	}
	if len(rec) != size {
		return nil, fmt.Errorf("etcd: log %d: chunks hold %d bytes, marker says %d", i, len(rec), size)
	}
	return rec, nil
}

// scan calls fn for every key in [start, end) in key order, a page at a
// time, all pages at the revision of the first.
func (e *Etcd) scan(what, start, end string, fn func(key string, value []byte) error) error {
	_, err := e.scanKVs(what, start, end, func(kv *mvccpb.KeyValue) error { return fn(string(kv.Key), kv.Value) })
	return err
}

// scanKVs is scan with the whole key-values, and returns the revision read.
func (e *Etcd) scanKVs(what, start, end string, fn func(kv *mvccpb.KeyValue) error) (int64, error) {
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(etcdPageSize),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		ctx, cancel := e.reqCtx()
		resp, err := e.cli.Get(ctx, start, opts...)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("etcd: %s: %w", what, err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return 0, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Objects implements Store.
func (e *Etcd) Objects(fn func(key string, value []byte) error) error {
	p := e.prefix + "obj/"
	return e.scan("objects", p, clientv3.GetPrefixRangeEnd(p), func(k string, v []byte) error {
		return fn(strings.TrimPrefix(k, p), v)
	})
}

// WriteObjects implements Store. The objects go in as many txns as etcd's
// limits need; that is fine because the checkpoint index only moves in
// SetCheckpoint. Deletes go first, as in bbolt, so a key both deleted and
// put ends up put (etcd also refuses a txn naming one key twice).
func (e *Etcd) WriteObjects(puts []KV, deletes []string) error {
	var ops []clientv3.Op
	seen := map[string]bool{}
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		ctx, cancel := e.reqCtx()
		defer cancel()
		if _, err := e.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("etcd: write objects: %w", err)
		}
		ops, size = ops[:0], 0
		clear(seen)
		return nil
	}
	add := func(key string, op clientv3.Op, sz int) error {
		if len(ops) >= etcdTxnOps || seen[key] || (len(ops) > 0 && size+sz > etcdTxnBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, op)
		seen[key] = true
		size += sz
		return nil
	}
	for _, k := range deletes {
		key := e.prefix + "obj/" + k
		if err := add(key, clientv3.OpDelete(key), len(key)); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, kv := range puts {
		key := e.prefix + "obj/" + kv.Key
		if err := add(key, clientv3.OpPut(key, string(kv.Value)), len(key)+len(kv.Value)); err != nil {
			return err
		}
	}
	return flush()
}

// SetCheckpoint implements Store.
func (e *Etcd) SetCheckpoint(index uint64) error {
	ctx, cancel := e.reqCtx()
	defer cancel()
	// Guarded so a slower replica's checkpoint can never move it back.
	k := e.prefix + "checkpoint"
	if _, err := e.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "<", padIndex(index))).
		Then(clientv3.OpPut(k, padIndex(index))).Commit(); err != nil {
		return fmt.Errorf("etcd: set checkpoint %d: %w", index, err)
	}
	storeMax(&e.checkpoint, index)
	return nil
}

// CheckpointIndex implements Store.
func (e *Etcd) CheckpointIndex() uint64 { return e.checkpoint.Load() }

// LastIndex implements Store.
func (e *Etcd) LastIndex() uint64 { return e.last.Load() }

// FirstIndex implements Store.
func (e *Etcd) FirstIndex() uint64 { return e.first.Load() }

// Compact implements Store: one txn deletes the log records and their
// chunks below before and moves "first". It is guarded on "first" being
// below before (the padded decimals compare numerically), so a slower
// compaction can never move "first" back.
func (e *Etcd) Compact(before uint64) error {
	before = min(before, e.checkpoint.Load()+1, e.last.Load()+1)
	if before <= e.first.Load() {
		return nil
	}
	ctx, cancel := e.reqCtx()
	defer cancel()
	firstKey := e.prefix + "first"
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value(firstKey), "<", padIndex(before))).
		Then(
			clientv3.OpDelete(e.prefix+"log/", clientv3.WithRange(e.logKey(before))),
			clientv3.OpDelete(e.prefix+"logchunk/", clientv3.WithRange(e.prefix+"logchunk/"+padIndex(before))),
			clientv3.OpPut(firstKey, padIndex(before)),
		).
		Else(clientv3.OpGet(firstKey)).
		Commit()
	if err != nil {
		return fmt.Errorf("etcd: compact %d: %w", before, err)
	}
	if !resp.Succeeded {
		// Someone compacted further already; adopt their first index.
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) != 1 {
			return fmt.Errorf("etcd: compact %d: first is missing", before)
		}
		f, err := parseIndex("first", kvs[0].Value)
		if err != nil {
			return fmt.Errorf("etcd: compact %d: %w", before, err)
		}
		before = f
	}
	storeMax(&e.first, before)
	return nil
}

// GetMeta implements Store: a missing key is (nil, nil), as in bbolt.
func (e *Etcd) GetMeta(key string) ([]byte, error) {
	ctx, cancel := e.reqCtx()
	defer cancel()
	resp, err := e.cli.Get(ctx, e.prefix+"meta/"+key)
	if err != nil {
		return nil, fmt.Errorf("etcd: get meta %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

// PutMeta implements Store.
func (e *Etcd) PutMeta(key string, value []byte) error {
	ctx, cancel := e.reqCtx()
	defer cancel()
	if _, err := e.cli.Put(ctx, e.prefix+"meta/"+key, string(value)); err != nil {
		return fmt.Errorf("etcd: put meta %q: %w", key, err)
	}
	return nil
}

// PutMetas implements MetaBatch: etcdTxnOps puts per txn, within
// etcdTxnBytes (a value larger than that goes alone).
func (e *Etcd) PutMetas(kvs map[string][]byte) error {
	var ops []clientv3.Op
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		ctx, cancel := e.reqCtx()
		defer cancel()
		if _, err := e.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("etcd: put %d meta keys: %w", len(ops), err)
		}
		ops, size = ops[:0], 0
		return nil
	}
	for k, v := range kvs {
		n := len(k) + len(v)
		if len(ops) == etcdTxnOps || (len(ops) > 0 && size+n > etcdTxnBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, clientv3.OpPut(e.prefix+"meta/"+k, string(v)))
		size += n
	}
	return flush()
}

// DeleteMeta implements Store.
func (e *Etcd) DeleteMeta(key string) error {
	ctx, cancel := e.reqCtx()
	defer cancel()
	if _, err := e.cli.Delete(ctx, e.prefix+"meta/"+key); err != nil {
		return fmt.Errorf("etcd: delete meta %q: %w", key, err)
	}
	return nil
}

// TakeMeta implements Store: one Delete returning the previous value, so
// that of concurrent takers (on any replica) only one gets it.
func (e *Etcd) TakeMeta(key string) ([]byte, error) {
	ctx, cancel := e.reqCtx()
	defer cancel()
	resp, err := e.cli.Delete(ctx, e.prefix+"meta/"+key, clientv3.WithPrevKV())
	if err != nil {
		return nil, fmt.Errorf("etcd: take meta %q: %w", key, err)
	}
	if len(resp.PrevKvs) == 0 {
		return nil, nil
	}
	return resp.PrevKvs[0].Value, nil
}

// Metas implements Store.
func (e *Etcd) Metas(prefix string, fn func(string, []byte) error) error {
	base := e.prefix + "meta/"
	p := base + prefix
	return e.scan("metas "+strconv.Quote(prefix), p, clientv3.GetPrefixRangeEnd(p), func(k string, v []byte) error {
		return fn(strings.TrimPrefix(k, base), v)
	})
}

// Size implements Store: the database size the first member that answers
// reports. It is the whole etcd database, other users' keys included; 0 if
// no member answers. Each member gets a short while, so a dead one (a
// Status request names its member) does not hold up the caller.
func (e *Etcd) Size() int64 {
	for _, ep := range e.cli.Endpoints() {
		ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
		resp, err := e.cli.Status(ctx, ep)
		cancel()
		if err == nil {
			return resp.DbSize
		}
	}
	return 0
}

// Close implements Store. Every write was acknowledged by etcd (a quorum's
// fsynced log) before it returned, so there is nothing to flush.
func (e *Etcd) Close() error {
	e.cancel()
	if err := e.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd: close: %w", err)
	}
	return nil
}

var (
	_ Store     = (*Etcd)(nil)
	_ Shared    = (*Etcd)(nil)
	_ MetaBatch = (*Etcd)(nil)
	_ MetaBatch = (*Bolt)(nil)
)
