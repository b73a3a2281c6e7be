package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amp-edge/amp/internal/testenv"
	"github.com/amp-edge/amp/internal/testenv/etcd"
)

// ipamSite creates, through REST, enterprise acme's organization o1 and
// its site s1 with the prefixes mgmt (10.0.0.128/29), big (10.1.0.0/24)
// and block (10.2.0.0/24, with the child 10.2.0.0/26), VLANs ADMIN (1)
// and UPLINK (10), and device d1 whose interface eno1 is on VLAN M (800),
// the VLAN of prefix mgmt: an address on eno1 must lie in mgmt (the
// inventory's rules).
func ipamSite(t testing.TB, s *testenv.Server) {
	t.Helper()
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"acme"}`)
	s.Must(t, 201, "POST", "/enterprises", `{"enterprise-id":"starbucks"}`)
	s.Must(t, 201, "POST", "/inventory/v1.0.0/organization/o1", `{"tenant":"acme"}`)
	s.Must(t, 201, "POST", "/inventory/v1.0.0/manufacturer/m", `{"display-name":"M"}`)
	s.Must(t, 201, "POST", "/inventory/v1.0.0/device-type/t", `{"manufacturer":"m","model":"T"}`)
	s.Must(t, 201, "POST", "/inventory/v1.0.0/site/s1", `{"organization":"o1","tenant":"acme",
	  "vlan":[{"name":"ADMIN","vid":1},{"name":"UPLINK","vid":10},{"name":"M","vid":800}],
	  "prefix":[{"prefix-id":"mgmt","prefix":"10.0.0.128/29","vlan":"M"},{"prefix-id":"big","prefix":"10.1.0.0/24"},
	    {"prefix-id":"block","prefix":"10.2.0.0/24"},{"prefix-id":"child","prefix":"10.2.0.0/26"}],
	  "device":[{"device-id":"d1","devname":"node1","role":"compute-server","device-type":"t","interface":[{"name":"eno1","type":"1000base-t","untagged-vlan":"M"}]}]}`)
}

const ipamPrefix = "/inventory/v1.0.0/site/s1/prefix/"

// TestIPAMAvailableIPs: NetBox's available-ips through REST: the list
// skips the network and broadcast addresses and what exists and is paged
// by ?limit; a POST allocates one ({}: an object) or several ([…]: a
// list) as one transaction, 201 with what it created; a short space is a
// 409 naming what was asked and what is left, and changes nothing; the
// tenant's admin may list but not allocate, another tenant's sees
// nothing.
func TestIPAMAvailableIPs(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	ipamSite(t, s)
	s.Must(t, 201, "POST", "/inventory/v1.0.0/ip-address/10.0.0.130", `{"prefix-length":29,"site":"s1"}`)

	var free []map[string]any
	json.Unmarshal(s.Must(t, 200, "GET", ipamPrefix+"mgmt/available-ips", ""), &free)
	if got := fmt.Sprint(free); got != "[map[address:10.0.0.129 prefix-length:29] map[address:10.0.0.131 prefix-length:29] map[address:10.0.0.132 prefix-length:29] map[address:10.0.0.133 prefix-length:29] map[address:10.0.0.134 prefix-length:29]]" {
		t.Fatalf("available-ips = %s", got)
	}
	json.Unmarshal(s.Must(t, 200, "GET", ipamPrefix+"big/available-ips", ""), &free)
	if len(free) != 50 || free[0]["address"] != "10.1.0.1" {
		t.Errorf("the default page has %d addresses from %v, want 50 from 10.1.0.1", len(free), free[0])
	}
	json.Unmarshal(s.Must(t, 200, "GET", ipamPrefix+"big/available-ips?limit=300", ""), &free)
	if len(free) != 254 || free[253]["address"] != "10.1.0.254" {
		t.Errorf("?limit=300 gave %d addresses up to %v, want the 254 hosts", len(free), free[len(free)-1])
	}
	refused(t, s, 400, "GET", ipamPrefix+"big/available-ips?limit=0", "", "?limit", "from 1 to 1000")
	refused(t, s, 404, "GET", ipamPrefix+"nope/available-ips", "", ipamPrefix+"nope", "does not exist")

	// One, with its fields; the answer is the object.
	var one map[string]any
	code, body, hdr, err := s.Do(context.Background(), "POST", ipamPrefix+"mgmt/available-ips", `{"dns-name":"node1.mgmt.example.net","device":"d1","interface":"eno1"}`)
	if err != nil || code != 201 || json.Unmarshal(body, &one) != nil || one["address"] != "10.0.0.129" || one["prefix-length"] != 29.0 ||
		one["site"] != "s1" || one["interface"] != "eno1" || hdr.Get("X-AMP-Transaction-Id") == "" {
		t.Fatalf("POST {…}: %d %s %v", code, body, err)
	}
	stored := string(s.Must(t, 200, "GET", "/inventory/v1.0.0/ip-address/10.0.0.129", ""))
	if !strings.Contains(stored, `"dns-name":"node1.mgmt.example.net"`) || !strings.Contains(stored, `"device":"d1"`) {
		t.Errorf("stored: %s", stored)
	}
	// A dry run shows the change and makes none.
	dry := string(s.Must(t, 200, "POST", ipamPrefix+"mgmt/available-ips?dry-run=true", `[{}]`))
	if !strings.Contains(dry, `"dry-run":true`) || !strings.Contains(dry, "/inventory/v1.0.0/ip-address/10.0.0.131") {
		t.Errorf("dry run: %s", dry)
	}
	// Two, as a list.
	var two []map[string]any
	json.Unmarshal(s.Must(t, 201, "POST", ipamPrefix+"mgmt/available-ips", `[{"status":"reserved"},{}]`), &two)
	if len(two) != 2 || two[0]["address"] != "10.0.0.131" || two[0]["status"] != "reserved" || two[1]["address"] != "10.0.0.132" {
		t.Fatalf("POST [{…},{…}] = %v", two)
	}
	// Short: 2 left, 3 asked; nothing changes.
	before := headIndex(t, s)
	refused(t, s, 409, "POST", ipamPrefix+"mgmt/available-ips", `[{},{},{}]`,
		ipamPrefix+"mgmt/available-ips", "asked for 3 addresses of 10.0.0.128/29; 2 are free")
	refused(t, s, 400, "POST", ipamPrefix+"mgmt/available-ips", `[{},{"address":"10.0.0.133"}]`, "/1/address", "the allocator chooses address")
	refused(t, s, 409, "POST", ipamPrefix+"mgmt/available-ips", `{"device":"d1","interface":"eth9"}`, "/interface", "the interface does not exist on the device")
	if after := headIndex(t, s); after != before {
		t.Errorf("refused allocations moved the index from %d to %d", before, after)
	}

	// The tenant's admin reads the free space but may not allocate;
	// another tenant's admin learns nothing.
	acme, _ := apiToken(t, s, "acme-admin", "enterprise-admin", "acme")
	sb, _ := apiToken(t, s, "sb-admin", "enterprise-admin", "starbucks")
	s.Must(t, 200, "GET", ipamPrefix+"mgmt/available-ips", "", "Authorization", "Bearer "+acme)
	s.Must(t, 403, "POST", ipamPrefix+"mgmt/available-ips", `{}`, "Authorization", "Bearer "+acme)
	code, body, _, _ = s.Do(context.Background(), "GET", ipamPrefix+"mgmt/available-ips", "", "Authorization", "Bearer "+sb)
	if code < 400 || strings.Contains(string(body), "10.0.0.1") {
		t.Errorf("another tenant's admin: %d %s", code, body)
	}
	s.Must(t, 403, "POST", ipamPrefix+"mgmt/available-ips", `{}`, "Authorization", "Bearer "+sb)
	if after := headIndex(t, s); after != before {
		t.Error("a refused tenant changed something")
	}

	// Allocations and refusals are in the audit trail, with the paths.
	var allocated, refusedTenant bool
	for _, r := range auditRecords(t, s, "") {
		for _, p := range r.Paths {
			allocated = allocated || r.Action == "write" && r.Outcome == "allowed" && p == "/inventory/v1.0.0/ip-address/10.0.0.129"
			refusedTenant = refusedTenant || r.Principal == "acme-admin@api" && r.Outcome == "denied" && strings.HasPrefix(p, "/inventory/v1.0.0/")
		}
	}
	if !allocated || !refusedTenant {
		t.Errorf("audit: allocation recorded %v, tenant's refused allocation recorded %v", allocated, refusedTenant)
	}
}

// TestIPAMAvailablePrefixesAndVLANs: available-prefixes lists the largest
// free blocks and allocates the lowest fitting one; available-vlans the
// free VIDs and the lowest free one (or the one asked for).
func TestIPAMAvailablePrefixesAndVLANs(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	ipamSite(t, s)
	if got := strings.TrimSpace(string(s.Must(t, 200, "GET", ipamPrefix+"block/available-prefixes", ""))); got != `[{"prefix":"10.2.0.64/26"},{"prefix":"10.2.0.128/25"}]` {
		t.Fatalf("available-prefixes = %s", got)
	}
	var made []map[string]any
	json.Unmarshal(s.Must(t, 201, "POST", ipamPrefix+"block/available-prefixes",
		`[{"prefix-length":25,"prefix-id":"fab","role":"fabric","vlan":"UPLINK"},{"prefix-length":27,"prefix-id":"adm"}]`), &made)
	if len(made) != 2 || made[0]["prefix"] != "10.2.0.128/25" || made[1]["prefix"] != "10.2.0.64/27" {
		t.Fatalf("allocated %v", made)
	}
	if got := string(s.Must(t, 200, "GET", "/inventory/v1.0.0/site/s1/prefix/fab", "")); !strings.Contains(got, `"role":"fabric"`) {
		t.Errorf("stored: %s", got)
	}
	refused(t, s, 409, "POST", ipamPrefix+"block/available-prefixes", `{"prefix-length":26,"prefix-id":"x"}`,
		ipamPrefix+"block/available-prefixes", "asked for /26 inside 10.2.0.0/24; free: 10.2.0.96/27")
	refused(t, s, 400, "POST", ipamPrefix+"block/available-prefixes", `{"prefix-length":8,"prefix-id":"x"}`, "/prefix-length", "from 25 to 32")

	if got := strings.TrimSpace(string(s.Must(t, 200, "GET", "/inventory/v1.0.0/site/s1/available-vlans?limit=3", ""))); got != `[{"vid":2},{"vid":3},{"vid":4}]` {
		t.Fatalf("available-vlans = %s", got)
	}
	json.Unmarshal(s.Must(t, 201, "POST", "/inventory/v1.0.0/site/s1/available-vlans", `[{"name":"MGMT","role":"mgmt"},{"name":"FABRIC","vid":801}]`), &made)
	if len(made) != 2 || made[0]["vid"] != 2.0 || made[1]["vid"] != 801.0 {
		t.Fatalf("allocated %v", made)
	}
	var one map[string]any
	json.Unmarshal(s.Must(t, 201, "POST", "/inventory/v1.0.0/site/s1/available-vlans", `{"name":"X"}`), &one)
	if one["vid"] != 3.0 {
		t.Errorf("next VLAN = %v, want vid 3", one)
	}
	refused(t, s, 409, "POST", "/inventory/v1.0.0/site/s1/available-vlans", `{"name":"Y","vid":801}`, "/vid", `VLAN id 801 is VLAN "FABRIC"'s`)
	refused(t, s, 404, "GET", "/inventory/v1.0.0/site/nope/available-vlans", "", "/inventory/v1.0.0/site/nope", "does not exist")
}

// headIndex is the server's newest transaction index.
func headIndex(t *testing.T, s *testenv.Server) uint64 {
	t.Helper()
	_, _, hdr, err := s.Do(context.Background(), "GET", "/inventory/v1.0.0/organization", "")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseUint(hdr.Get("X-AMP-Index"), 10, 64)
	return n
}

// TestIPAMConcurrentAllocators: 64 concurrent allocations through REST
// never hand out one address twice and every address answered 201 is in
// the store — on bbolt, on etcd, and through two replicas on one etcd.
func TestIPAMConcurrentAllocators(t *testing.T) {
	t.Run("bbolt", func(t *testing.T) {
		s := testenv.Start(t, t.TempDir())
		ipamSite(t, s)
		concurrentAllocators(t, []*testenv.Server{s}, 0)
	})
	c := etcd.Start(t, 1)
	t.Run("etcd", func(t *testing.T) {
		s := testenv.Start(t, t.TempDir(), "--store", "etcd://"+c.Endpoints()+"/amp-ipam-one/")
		ipamSite(t, s)
		concurrentAllocators(t, []*testenv.Server{s}, 0)
	})
	t.Run("replicas", func(t *testing.T) {
		reps := startReplicas(t, testenv.Binary(t), "etcd://"+c.Endpoints()+"/amp-ipam-two/", 2)
		ipamSite(t, reps[0])
		// As a client behind a load balancer does, the allocators name
		// the index the site was made at: a replica that has not applied
		// it yet waits for it instead of answering 404 (docs/etcd.md).
		concurrentAllocators(t, reps, headIndex(t, reps[0]))
	})
}

// concurrentAllocators allocates through servers in turn, each request
// waiting for the servers to have applied transaction since.
func concurrentAllocators(t *testing.T, servers []*testenv.Server, since uint64) {
	t.Helper()
	const n = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	handed := map[string]int{}
	var maxIndex uint64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := servers[i%len(servers)]
			code, body, hdr, err := s.Do(context.Background(), "POST", ipamPrefix+"big/available-ips?min-index="+strconv.FormatUint(since, 10), `{"description":"allocator `+strconv.Itoa(i)+`"}`)
			if err != nil || code != http.StatusCreated {
				t.Errorf("allocator %d: %d %s %v", i, code, body, err)
				return
			}
			var ip map[string]any
			if err := json.Unmarshal(body, &ip); err != nil {
				t.Error(err)
				return
			}
			idx, _ := strconv.ParseUint(hdr.Get("X-AMP-Transaction-Index"), 10, 64)
			mu.Lock()
			defer mu.Unlock()
			handed[ip["address"].(string)]++
			maxIndex = max(maxIndex, idx)
		}()
	}
	wg.Wait()
	for a, k := range handed {
		if k > 1 {
			t.Errorf("%s handed out %d times", a, k)
		}
	}
	if len(handed) != n {
		t.Fatalf("%d distinct addresses for %d allocators", len(handed), n)
	}
	// Every address answered 201 is in the store, on every replica.
	for _, s := range servers {
		var stored []map[string]any
		json.Unmarshal(s.Must(t, 200, "GET", "/inventory/v1.0.0/ip-address?limit=1000&min-index="+strconv.FormatUint(maxIndex, 10), ""), &stored)
		in := map[string]bool{}
		for _, ip := range stored {
			in[ip["address"].(string)] = true
		}
		for a := range handed {
			if !in[a] {
				t.Errorf("%s was answered 201 but is not in the store of %s", a, s.URL)
			}
		}
		if len(stored) != n {
			t.Errorf("%d addresses stored, want %d", len(stored), n)
		}
	}
}

// TestIPAMCLI: amp provision ip free|next and prefix free|next through the
// binary: tables by default, JSON with -o json, a short space as an error
// naming what was asked and what is left.
func TestIPAMCLI(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	ipamSite(t, s)
	amp := func(want bool, args ...string) string {
		t.Helper()
		out, err := ampCLI(t, s.Env(), args...)
		if (err == nil) != want {
			t.Fatalf("amp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out := amp(true, "provision", "ip", "free", "s1", "mgmt"); out != "ADDRESS\n10.0.0.129/29\n10.0.0.130/29\n10.0.0.131/29\n10.0.0.132/29\n10.0.0.133/29\n10.0.0.134/29\n" {
		t.Errorf("ip free:\n%s", out)
	}
	if out := amp(true, "provision", "ip", "free", "s1", "big", "--limit", "2", "-o", "json"); strings.Join(strings.Fields(out), "") !=
		`[{"address":"10.1.0.1","prefix-length":24},{"address":"10.1.0.2","prefix-length":24}]` {
		t.Errorf("ip free -o json:\n%s", out)
	}
	out := amp(true, "provision", "ip", "next", "s1", "mgmt", "--dns-name", "node1.mgmt.example.net", "--device", "d1", "--interface", "eno1")
	if !strings.Contains(out, "ADDRESS") || !strings.Contains(out, "10.0.0.129") || !strings.Contains(out, "node1.mgmt.example.net") || !strings.Contains(out, "eno1") {
		t.Errorf("ip next:\n%s", out)
	}
	var made []map[string]any
	if err := json.Unmarshal([]byte(amp(true, "provision", "ip", "next", "s1", "mgmt", "--count", "3", "--status", "reserved", "-o", "json")), &made); err != nil ||
		len(made) != 3 || made[0]["address"] != "10.0.0.130" || made[2]["address"] != "10.0.0.132" || made[1]["status"] != "reserved" {
		t.Errorf("ip next --count 3: %v %v", made, err)
	}
	if got := string(s.Must(t, 200, "GET", "/inventory/v1.0.0/ip-address/10.0.0.131", "")); !strings.Contains(got, `"status":"reserved"`) {
		t.Errorf("stored: %s", got)
	}
	out = amp(false, "provision", "ip", "next", "s1", "mgmt", "--count", "3")
	if !strings.Contains(out, "asked for 3 addresses of 10.0.0.128/29; 2 are free") {
		t.Errorf("a short space:\n%s", out)
	}
	if out := amp(false, "provision", "ip", "next", "s1", "mgmt", "--count", "2", "--dns-name", "x.example.net"); !strings.Contains(out, "--dns-name") {
		t.Errorf("--dns-name with --count 2:\n%s", out)
	}

	if out := amp(true, "provision", "prefix", "free", "s1", "block"); out != "PREFIX\n10.2.0.64/26\n10.2.0.128/25\n" {
		t.Errorf("prefix free:\n%s", out)
	}
	out = amp(true, "provision", "prefix", "next", "s1", "block", "--length", "25", "--id", "fab", "--role", "fabric", "--vlan", "UPLINK")
	if !strings.Contains(out, "fab") || !strings.Contains(out, "10.2.0.128/25") || !strings.Contains(out, "UPLINK") {
		t.Errorf("prefix next:\n%s", out)
	}
	out = amp(true, "provision", "prefix", "next", "s1", "block", "--length", "27", "--id", "adm", "--dry-run")
	if !strings.Contains(out, "/inventory/v1.0.0/site/s1/prefix/adm") {
		t.Errorf("prefix next --dry-run:\n%s", out)
	}
	s.Must(t, 404, "GET", "/inventory/v1.0.0/site/s1/prefix/adm", "")
	if out := amp(false, "provision", "prefix", "next", "s1", "block", "--length", "25", "--id", "more"); !strings.Contains(out, "asked for /25 inside 10.2.0.0/24; free: 10.2.0.64/26") {
		t.Errorf("prefix next, short:\n%s", out)
	}
}

// BenchmarkIPAMAllocators: 64 concurrent allocators through REST
// (POST available-ips, one address each) against 64 concurrent plain
// creates of ip-address objects with keys the writers chose (the same-run
// baseline), on one `amp serve` (bbolt). Each round gives both a fresh
// /24 each and runs the writers, then the allocators, so both meet the same
// machine. Reported: writes/s, allocs/s, their ratio (issue 11 asks
// >= 0.5) and the addresses handed out twice (0).
//
//	go test -run '^$' -bench IPAMAllocators -benchtime 10x ./test/e2e/
func BenchmarkIPAMAllocators(b *testing.B) {
	const workers = 64
	s := testenv.Start(b, b.TempDir())
	if tr, ok := s.HTTPClient.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = workers // keep the 64 connections between rounds
	}
	ipamSite(b, s)
	var ps []string
	for i := range b.N {
		ps = append(ps, fmt.Sprintf(`{"prefix-id":"r%d","prefix":"10.%d.%d.0/24"}`, i, 100+i/256, i%256))
		// The writers' addresses lie in a prefix of the site too, as
		// the inventory's rules require of every address.
		ps = append(ps, fmt.Sprintf(`{"prefix-id":"w%d","prefix":"11.%d.%d.0/24"}`, i, i/256, i%256))
	}
	s.Must(b, 200, "PATCH", "/inventory/v1.0.0/site/s1", `{"prefix":[`+strings.Join(ps, ",")+`]}`)
	var writeTime, allocTime time.Duration
	dups := 0
	post := func(path, body string) []byte {
		code, out, _, err := s.Do(context.Background(), "POST", path, body)
		if err != nil || code != http.StatusCreated {
			b.Errorf("POST %s: %d %v %s", path, code, err, out)
		}
		return out
	}
	// Open the 64 connections before the clock starts.
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Must(b, 200, "GET", ipamPrefix+"r0/available-ips?limit=1", "")
		}()
	}
	wg.Wait()
	b.ResetTimer()
	for round := range b.N {
		start := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				post(fmt.Sprintf("/inventory/v1.0.0/ip-address/11.%d.%d.%d", round/256, round%256, w+1), `{"prefix-length":24,"site":"s1"}`)
			}()
		}
		wg.Wait()
		writeTime += time.Since(start)

		var mu sync.Mutex
		got := map[string]bool{}
		start = time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ip struct{ Address string }
				json.Unmarshal(post(fmt.Sprintf(ipamPrefix+"r%d/available-ips", round), `{}`), &ip)
				mu.Lock()
				defer mu.Unlock()
				if got[ip.Address] {
					dups++
				}
				got[ip.Address] = true
			}()
		}
		wg.Wait()
		allocTime += time.Since(start)
	}
	b.StopTimer()
	writes := float64(workers*b.N) / writeTime.Seconds()
	allocs := float64(workers*b.N) / allocTime.Seconds()
	b.ReportMetric(writes, "writes/s")
	b.ReportMetric(allocs, "allocs/s")
	b.ReportMetric(allocs/writes, "alloc/write")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(0, "ns/op")
	if dups > 0 {
		b.Errorf("%d addresses handed out twice", dups)
	}
}
