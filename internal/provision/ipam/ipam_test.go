package ipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/testenv"
)

// decode reads JSON as the REST layer does (numbers exact).
func decode(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// create creates the entries of a list (segs: its path) as one transaction.
func create(t testing.TB, eng *config.Engine, set *schema.ModelSet, body string, segs ...string) {
	t.Helper()
	loc, err := schema.Resolve(set, "", segs)
	if err != nil {
		t.Fatal(err)
	}
	val, err := schema.DecodeJSON(loc.Node, decode(t, body), loc.REST(), false, schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Submit(context.Background(), &config.Request{Edits: []config.Edit{{Op: config.OpCreate, Loc: loc, Value: val}}, Principal: "test"}); err != nil {
		t.Fatalf("create %v: %v", segs, err)
	}
}

// fixture is an engine with site s1: prefix p29 (10.0.0.0/29, where
// 10.0.0.2 is taken), p24 (10.1.0.0/24), block (10.2.0.0/24, with the child
// 10.2.0.0/26), VLANs 1 and 10, and device d1 with interface eno1.
func fixture(t testing.TB) (*config.Engine, *schema.ModelSet) {
	t.Helper()
	eng, _ := testenv.Engine(t, false)
	set := inventory.Set(eng.Schema())
	create(t, eng, set, `[{"org-id":"o1"}]`, "organization")
	create(t, eng, set, `[{"manufacturer-id":"m"}]`, "manufacturer")
	create(t, eng, set, `[{"device-type-id":"t","manufacturer":"m","model":"T"}]`, "device-type")
	create(t, eng, set, `[{"site-id":"s1","organization":"o1",
	  "vlan":[{"name":"ADMIN","vid":1},{"name":"UPLINK","vid":10}],
	  "prefix":[{"prefix-id":"p29","prefix":"10.0.0.0/29"},{"prefix-id":"p24","prefix":"10.1.0.0/24"},
	    {"prefix-id":"block","prefix":"10.2.0.0/24"},{"prefix-id":"child","prefix":"10.2.0.0/26"}],
	  "device":[{"device-id":"d1","devname":"node1","role":"compute-server","device-type":"t","interface":[{"name":"eno1","type":"1000base-t"}]}]}]`, "site")
	create(t, eng, set, `[{"address":"10.0.0.2","prefix-length":29,"site":"s1"}]`, "ip-address")
	return eng, set
}

// direct commits a choice as the engine's caller (the REST layer adds
// authorization).
func direct(eng *config.Engine) Submit {
	return func(c *Choice) (*config.Result, error) {
		return eng.Submit(context.Background(), &config.Request{Edits: c.Edits, Principal: "test"})
	}
}

func items(t testing.TB, body string) ([]map[string]any, bool) {
	t.Helper()
	it, list, err := Items(decode(t, body))
	if err != nil {
		t.Fatal(err)
	}
	return it, list
}

func ipsIn(snap *config.Snapshot, set *schema.ModelSet) map[string]*inventory.IPAddress {
	return inventory.Load(snap, set).IPs
}

// TestIPs: the free addresses skip the network, the broadcast and what
// exists; an allocation takes the lowest, with the item's fields, and a
// short space or a bad item changes nothing and says why.
func TestIPs(t *testing.T) {
	eng, set := fixture(t)
	free, err := FreeIPs(eng.Snapshot(), set, "s1", "p29", 50)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(free); got != "[{10.0.0.1 29} {10.0.0.3 29} {10.0.0.4 29} {10.0.0.5 29} {10.0.0.6 29}]" {
		t.Fatalf("free = %s", got)
	}
	if free, _ := FreeIPs(eng.Snapshot(), set, "s1", "p29", 2); len(free) != 2 {
		t.Errorf("limit 2 gave %d", len(free))
	}

	it, list := items(t, `[{"dns-name":"node1.mgmt.example.net","device":"d1","interface":"eno1"},{"status":"reserved"}]`)
	c, res, err := AllocateIPs(context.Background(), eng, set, "s1", "p29", it, list, direct(eng))
	if err != nil {
		t.Fatal(err)
	}
	ips := ipsIn(eng.Snapshot(), set)
	a, b := ips["10.0.0.1"], ips["10.0.0.3"]
	if a == nil || b == nil || a.PrefixLength != 29 || a.Site != "s1" || a.DNSName != "node1.mgmt.example.net" ||
		a.Interface != "eno1" || b.Status != "reserved" || len(c.Created) != 2 || res.Index != eng.Snapshot().Index {
		t.Fatalf("allocated %+v %+v (created %v)", a, b, c.Created)
	}

	before := eng.Snapshot().Index
	it, list = items(t, `[{},{},{},{}]`)
	_, _, err = AllocateIPs(context.Background(), eng, set, "s1", "p29", it, list, direct(eng))
	if schema.KindOf(err) != schema.KindConflict || !strings.Contains(err.Error(), "asked for 4 addresses of 10.0.0.0/29; 3 are free") ||
		!strings.Contains(err.Error(), "/inventory/v1.0.0/site/s1/prefix/p29/available-ips") {
		t.Fatalf("short space: %v", err)
	}
	for body, want := range map[string]string{
		`[{},{"dns-name":"-bad-"}]`:          "/1/dns-name",
		`{"address":"10.0.0.5"}`:             "/address: the allocator chooses address",
		`{"interface":"nope","device":"d1"}`: "the interface does not exist on the device",
	} {
		it, list := items(t, body)
		_, _, err := AllocateIPs(context.Background(), eng, set, "s1", "p29", it, list, direct(eng))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	if eng.Snapshot().Index != before {
		t.Error("a refused allocation changed something")
	}
	if _, err := FreeIPs(eng.Snapshot(), set, "s1", "nope", 50); schema.KindOf(err) != schema.KindNotFound {
		t.Errorf("unknown prefix: %v", err)
	}
	if _, err := FreeIPs(eng.Snapshot(), set, "s9", "p29", 50); schema.KindOf(err) != schema.KindNotFound {
		t.Errorf("unknown site: %v", err)
	}
}

// TestIPsConcurrent: 64 allocators of one engine never get one address
// twice, and every address handed out is in the store.
func TestIPsConcurrent(t *testing.T) {
	eng, set := fixture(t)
	got := allocateConcurrently(t, eng, set, 64, direct(eng))
	ips := ipsIn(eng.Snapshot(), set)
	seen := map[string]bool{}
	for _, a := range got {
		if seen[a] {
			t.Errorf("%s handed out twice", a)
		}
		seen[a] = true
		if ips[a] == nil {
			t.Errorf("%s handed out but not in the store", a)
		}
	}
	if len(seen) != 64 {
		t.Errorf("%d distinct addresses, want 64", len(seen))
	}
}

func allocateConcurrently(t testing.TB, eng *config.Engine, set *schema.ModelSet, n int, submit Submit) []string {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []string
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _, err := AllocateIPs(context.Background(), eng, set, "s1", "p24", []map[string]any{{}}, false, submit)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, c.Created[0]["address"].(string))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return got
}

// TestIPsLostRace: when another writer (a replica, which this process's
// claims do not know) takes the chosen address first, the allocation
// chooses again and gets the next one.
func TestIPsLostRace(t *testing.T) {
	eng, set := fixture(t)
	attempts := 0
	var first string
	_, _, err := AllocateIPs(context.Background(), eng, set, "s1", "p24", []map[string]any{{"dns-name": "mine.example.net"}}, false, func(c *Choice) (*config.Result, error) {
		attempts++
		if attempts == 1 {
			first = c.Created[0]["address"].(string)
			create(t, eng, set, `[{"address":"`+first+`","prefix-length":24,"site":"s1","dns-name":"theirs.example.net"}]`, "ip-address")
		}
		return direct(eng)(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	ips := ipsIn(eng.Snapshot(), set)
	if attempts != 2 || first != "10.1.0.1" || ips["10.1.0.1"].DNSName != "theirs.example.net" || ips["10.1.0.2"] == nil || ips["10.1.0.2"].DNSName != "mine.example.net" {
		t.Fatalf("attempts %d, first choice %s, store %+v %+v", attempts, first, ips["10.1.0.1"], ips["10.1.0.2"])
	}
	// A refusal that is not about the choice is the answer at once.
	attempts = 0
	_, _, err = AllocateIPs(context.Background(), eng, set, "s1", "p24", []map[string]any{{"device": "nope"}}, false, func(c *Choice) (*config.Result, error) {
		attempts++
		return direct(eng)(c)
	})
	if err == nil || attempts != 1 {
		t.Fatalf("a bad device: %v after %d attempts", err, attempts)
	}
}

// TestPrefixes: free child blocks, allocation of the lowest fitting
// block, and a short space naming what was asked and what is left.
func TestPrefixes(t *testing.T) {
	eng, set := fixture(t)
	free, err := FreePrefixes(eng.Snapshot(), set, "s1", "block")
	if err != nil || fmt.Sprint(free) != "[10.2.0.64/26 10.2.0.128/25]" {
		t.Fatalf("free = %v, %v", free, err)
	}
	it, list := items(t, `[{"prefix-length":27,"prefix-id":"a","role":"mgmt"},{"prefix-length":25,"prefix-id":"b"}]`)
	if _, _, err := AllocatePrefixes(context.Background(), eng, set, "s1", "block", it, list, direct(eng)); err != nil {
		t.Fatal(err)
	}
	s, _ := inventory.LoadSite(eng.Snapshot(), set, "s1")
	if s.Prefixes["a"].Prefix != "10.2.0.64/27" || s.Prefixes["a"].Role != "mgmt" || s.Prefixes["b"].Prefix != "10.2.0.128/25" {
		t.Fatalf("allocated a=%+v b=%+v", s.Prefixes["a"], s.Prefixes["b"])
	}
	before := eng.Snapshot().Index
	for body, want := range map[string]string{
		`[{"prefix-length":27,"prefix-id":"c"},{"prefix-length":27,"prefix-id":"d"}]`: "asked for /27, /27 inside 10.2.0.0/24; free: 10.2.0.96/27",
		`{"prefix-length":24,"prefix-id":"e"}`:                                        "/prefix-length: must be a length from 25 to 32",
		`{"prefix-length":28,"prefix-id":"a"}`:                                        `prefix "a" already exists`,
		`{"prefix-length":28,"prefix-id":"f","prefix":"10.2.0.96/28"}`:                "/prefix: the allocator chooses prefix",
	} {
		it, list := items(t, body)
		_, _, err := AllocatePrefixes(context.Background(), eng, set, "s1", "block", it, list, direct(eng))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	if eng.Snapshot().Index != before {
		t.Error("a refused allocation changed something")
	}
}

// TestPrefixesConcurrent: concurrent prefix allocations never overlap
// (nothing in the model forbids overlapping prefixes: the If-Match on the
// site's prefix list does).
func TestPrefixesConcurrent(t *testing.T) {
	eng, set := fixture(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it := []map[string]any{{"prefix-length": json.Number("28"), "prefix-id": fmt.Sprintf("n%d", i)}}
			if _, _, err := AllocatePrefixes(context.Background(), eng, set, "s1", "p24", it, false, direct(eng)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, _ := inventory.LoadSite(eng.Snapshot(), set, "s1")
	var got []netip.Prefix
	for i := range 8 {
		p := s.Prefixes[fmt.Sprintf("n%d", i)]
		if p == nil {
			t.Fatalf("n%d not created", i)
		}
		np := netip.MustParsePrefix(p.Prefix)
		for _, o := range got {
			if o.Overlaps(np) {
				t.Errorf("%s overlaps %s", np, o)
			}
		}
		got = append(got, np)
	}
}

// TestVLANs: free VIDs skip the used ones; an allocation takes the lowest
// free VID or the one asked for, if free.
func TestVLANs(t *testing.T) {
	eng, set := fixture(t)
	free, err := FreeVLANs(eng.Snapshot(), set, "s1", 3)
	if err != nil || fmt.Sprint(free) != "[{2} {3} {4}]" {
		t.Fatalf("free = %v, %v", free, err)
	}
	it, list := items(t, `[{"name":"MGMT","role":"mgmt"},{"name":"FABRIC","vid":801},{"name":"X"}]`)
	if _, _, err := AllocateVLANs(context.Background(), eng, set, "s1", it, list, direct(eng)); err != nil {
		t.Fatal(err)
	}
	s, _ := inventory.LoadSite(eng.Snapshot(), set, "s1")
	if s.VLANs["MGMT"].VID != 2 || s.VLANs["MGMT"].Role != "mgmt" || s.VLANs["FABRIC"].VID != 801 || s.VLANs["X"].VID != 3 {
		t.Fatalf("vlans %+v %+v %+v", s.VLANs["MGMT"], s.VLANs["FABRIC"], s.VLANs["X"])
	}
	before := eng.Snapshot().Index
	for body, want := range map[string]string{
		`{"name":"Y","vid":10}`:  `/vid: VLAN id 10 is VLAN "UPLINK"'s at site "s1"`,
		`{"name":"MGMT"}`:        `VLAN "MGMT" already exists`,
		`[{"name":"Z","vid":0}]`: "/0/vid: must be a VLAN id from 1 to 4094",
		`{"name":"bad name!"}`:   "/name",
	} {
		it, list := items(t, body)
		_, _, err := AllocateVLANs(context.Background(), eng, set, "s1", it, list, direct(eng))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	if eng.Snapshot().Index != before {
		t.Error("a refused allocation changed something")
	}
}

// TestLostRaceVLANAndPrefix: a VID or a block another writer takes
// between the choice and the commit (a unique VID refused; the site's
// prefix list at another version) makes the allocation choose again.
func TestLostRaceVLANAndPrefix(t *testing.T) {
	eng, set := fixture(t)
	attempts := 0
	_, _, err := AllocateVLANs(context.Background(), eng, set, "s1", []map[string]any{{"name": "MINE"}}, false, func(c *Choice) (*config.Result, error) {
		if attempts++; attempts == 1 {
			create(t, eng, set, `[{"name":"THEIRS","vid":2}]`, "site", "s1", "vlan")
		}
		return direct(eng)(c)
	})
	s, _ := inventory.LoadSite(eng.Snapshot(), set, "s1")
	if err != nil || attempts != 2 || s.VLANs["MINE"].VID != 3 || s.VLANs["THEIRS"].VID != 2 {
		t.Fatalf("VLAN: %v after %d attempts: %+v", err, attempts, s.VLANs["MINE"])
	}

	attempts = 0
	_, _, err = AllocatePrefixes(context.Background(), eng, set, "s1", "block", []map[string]any{{"prefix-length": json.Number("26"), "prefix-id": "mine"}}, false, func(c *Choice) (*config.Result, error) {
		if attempts++; attempts == 1 {
			create(t, eng, set, `[{"prefix-id":"theirs","prefix":"10.2.0.96/27"}]`, "site", "s1", "prefix")
		}
		return direct(eng)(c)
	})
	s, _ = inventory.LoadSite(eng.Snapshot(), set, "s1")
	if err != nil || attempts != 2 || s.Prefixes["mine"].Prefix != "10.2.0.128/26" {
		t.Fatalf("prefix: %v after %d attempts: %+v", err, attempts, s.Prefixes["mine"])
	}
}

// TestAttemptsBounded: an allocation that keeps losing gives up after
// maxAttempts with 503, naming what it chose last.
func TestAttemptsBounded(t *testing.T) {
	eng, set := fixture(t)
	attempts := 0
	_, _, err := AllocateIPs(context.Background(), eng, set, "s1", "p24", []map[string]any{{}}, false, func(c *Choice) (*config.Result, error) {
		attempts++
		a := c.Created[0]["address"].(string)
		create(t, eng, set, `[{"address":"`+a+`","prefix-length":24,"site":"s1"}]`, "ip-address")
		return direct(eng)(c)
	})
	if schema.KindOf(err) != schema.KindUnavailable || attempts != maxAttempts || !strings.Contains(err.Error(), "/inventory/v1.0.0/ip-address/10.1.0.24") {
		t.Fatalf("%v after %d attempts", err, attempts)
	}
}
