package sdcore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/endpoint"
	"github.com/amp-edge/amp/internal/schema"
)

// Defaults the YANG gives and the store does not hold (absent leaf = default).
const (
	defaultMTU   = 1492
	defaultBurst = 625000
	bitrateUnit  = "bps"
	// Unset traffic-class fields, as Aether's sdcore-adapter fills them.
	defaultPDB, defaultPELR, defaultQCI, defaultARP = 300, 6, 9, 9
	// Priorities of the default-behavior rules (aether-models: 201..255
	// are reserved for the system).
	priorityDefault = 250
)

// defaultRuleClass is the traffic class Aether's sdcore-adapter attaches to
// the default-behavior rules (commit ea451d0): a current webconsole refuses
// a filtering rule without one ("TrafficClass (QCI, ARP) required").
func defaultRuleClass() *trafficClass { return &trafficClass{ARP: 6, QCI: 9} }

// Render implements controller.Adapter: every device group, network slice
// and UPF slice configuration the cores and UPFs of every site of every
// enterprise should hold. It reads only the snapshot (and Options); the
// name index it leaves behind is what Held maps backend names with.
//
// It is incremental (cache.go): a site none of whose inputs changed since
// the last Render keeps what it rendered then, so a commit re-renders only
// the sites it touched. The result is the same as a render from scratch.
func (a *Adapter) Render(snap *config.Snapshot) map[string]controller.Desired {
	a.renderMu.Lock()
	defer a.renderMu.Unlock()
	a.cache.begin(a.opts.Backends)
	out := map[string]controller.Desired{}
	for _, t := range snap.Targets() {
		ent := t.Key[strings.IndexByte(t.Key, '/')+1:]
		r := &renderer{a: a, snap: snap, ent: ent, out: out}
		r.enterprise()
	}
	a.cache.end()
	markCollisions(out)
	a.setIndex(out)
	return out
}

type renderer struct {
	a    *Adapter
	snap *config.Snapshot
	ent  string
	out  map[string]controller.Desired
	set  *schema.ModelSet
	// deps records what the site being rendered reads (cache.go).
	deps *siteDeps
}

// enterprise renders every site of one enterprise in the aether 2.1.x set,
// or takes it from the cache when nothing it read has changed.
func (r *renderer) enterprise() {
	eachEntry(r.snap, r.rootKey()+"/site/", func(o *config.Object) {
		if o.Node == nil || o.Node.Set == nil || o.Node.Set.Version != modelVersion || o.Node.Name != "site" {
			return
		}
		r.set = o.Node.Set
		if c := r.a.cache.lookup(r.snap, o.Key); c != nil {
			for id, d := range c.out {
				r.out[id] = d
			}
			return
		}
		whole := r.out
		r.out, r.deps = map[string]controller.Desired{}, newSiteDeps()
		r.site(o.Key, r.siteTree(o))
		r.a.cache.store(o.Key, &siteRender{deps: r.deps, out: r.out})
		for id, d := range r.out {
			whole[id] = d
		}
		r.out, r.deps = whole, nil
	})
}

// siteTree is a site's tree as Snapshot.Tree would give it, but with only
// the lists rendering walks (siteLists: slices, device groups, IP domains,
// UPFs, small cells): devices and SIM cards, which can be a hundred
// thousand, are read one by one as device groups name them (entry), and
// the lists below the site's containers (monitoring) are not read at all.
func (r *renderer) siteTree(o *config.Object) map[string]any {
	r.deps.object(o.Key, o)
	data := make(map[string]any, len(o.Data)+len(siteLists))
	for k, v := range o.Data {
		data[k] = v
	}
	for list := range siteLists {
		prefix := o.Key + "/" + list + "/"
		r.deps.subtree(r.snap, prefix)
		var items []any
		eachEntry(r.snap, prefix, func(e *config.Object) {
			t, _ := r.snap.Tree(e)
			items = append(items, t)
		})
		if len(items) > 0 {
			data[list] = items
		}
	}
	return data
}

// get reads one object by key, noting the read (found or not) as an
// input of the site being rendered.
func (r *renderer) get(key string) (*config.Object, bool) {
	o, ok := r.snap.Get(key)
	r.deps.object(key, o)
	return o, ok
}

// entry reads one entry of a site list that is not walked (a device, a SIM
// card) by its id.
func (r *renderer) entry(s *site, list, id string) (map[string]any, bool) {
	o, ok := r.get(child(s.key, list, id))
	if !ok {
		return nil, false
	}
	t, _ := r.snap.Tree(o)
	return t, true
}

// site holds one site's tree, indexed.
type site struct {
	key, id string
	data    map[string]any
	lists   map[string]map[string]map[string]any // list name -> id -> entry
}

// siteLists are the lists of a site rendering walks whole, by their key.
var siteLists = map[string]string{
	"device-group": "device-group-id", "ip-domain": "ip-domain-id", "upf": "upf-id",
	"small-cell": "small-cell-id", "slice": "slice-id",
}

func (r *renderer) site(key string, data map[string]any) {
	s := &site{key: key, id: str(data, "site-id"), data: data, lists: map[string]map[string]map[string]any{}}
	for list, k := range siteLists {
		s.lists[list] = map[string]map[string]any{}
		for _, e := range entries(data, list) {
			s.lists[list][str(e, k)] = e
		}
	}
	// Which cores each device group must be on: those of the slices that
	// list it (enabled or not). A device group in no slice is not sent.
	dgCores := map[string]map[string][]string{} // dg -> core -> slice keys
	dgNoCore := map[string][]string{}           // dg -> slices without a core
	upfSlices := map[string][]map[string]any{}  // upf -> the slices that name it
	for _, sl := range entries(data, "slice") {
		core, _ := r.core(s, sl)
		slKey := child(s.key, "slice", str(sl, "slice-id"))
		for _, ref := range entries(sl, "device-group") {
			dg := str(ref, "device-group")
			if core == "" {
				dgNoCore[dg] = append(dgNoCore[dg], slKey)
				continue
			}
			if dgCores[dg] == nil {
				dgCores[dg] = map[string][]string{}
			}
			dgCores[dg][core] = append(dgCores[dg][core], slKey)
		}
		r.slice(s, sl, core)
		if upfID := str(sl, "upf"); upfID != "" {
			upfSlices[upfID] = append(upfSlices[upfID], sl)
		}
	}
	for upfID, slices := range upfSlices {
		r.upf(s, upfID, slices)
	}
	for _, dg := range entries(data, "device-group") {
		id := str(dg, "device-group-id")
		for core, slices := range dgCores[id] {
			r.deviceGroup(s, dg, core, slices)
		}
		if len(dgCores[id]) == 0 && len(dgNoCore[id]) > 0 {
			rests := make([]string, len(dgNoCore[id]))
			for i, k := range dgNoCore[id] {
				rests[i] = r.rest(k)
			}
			dgKey := child(s.key, "device-group", id)
			r.put(kindDeviceGroup, "", s, id, controller.Desired{
				Sources: append([]string{dgKey}, dgNoCore[id]...),
				Err: fmt.Sprintf("%s: not sent: its slice %s has no core endpoint (see the slice's error)",
					r.rest(dgKey), strings.Join(rests, ", ")),
			})
		}
	}
}

// core returns the endpoint of the core a slice's connectivity-service
// selects, or "" and the reason.
func (r *renderer) core(s *site, sl map[string]any) (string, string) {
	cs := strDef(sl, "connectivity-service", "5g")
	svc := "core-" + cs
	ep := str(sub(sub(s.data, "connectivity-service"), svc), "endpoint")
	if ep == "" {
		return "", fmt.Sprintf("site %s has no connectivity-service/%s/endpoint, which the slice's connectivity-service %s needs",
			r.rest(s.key), svc, cs)
	}
	b, err := r.backend(endpoint.Core, ep)
	if err != nil {
		return "", fmt.Sprintf("%s/connectivity-service/%s/endpoint: %v", r.rest(s.key), svc, err)
	}
	return b, ""
}

func (r *renderer) put(kind, backend string, s *site, name string, d controller.Desired) {
	d.Backend = backend
	r.out[r.id(kind, backend, s, name)] = d
}

// id is the id put gives the object of a kind named name on a backend.
func (r *renderer) id(kind, backend string, s *site, name string) string {
	return makeID(kind, backend, r.ent, s.id, r.remoteName(kind, backend, name))
}

func (r *renderer) rest(key string) string { return schema.RESTPathOfKey(r.set, key, nil, false, nil) }

// rootKey is the storage key of the enterprise's root in the Aether set.
func (r *renderer) rootKey() string {
	return modelSet + "/" + modelVersion + "/" + schema.EscapeSegment(r.ent)
}

// trafficClass looks up an enterprise traffic class, filling unset fields
// with Aether's defaults.
func (r *renderer) trafficClass(id string) (*trafficClass, string, bool) {
	key := child(r.rootKey(), "traffic-class", id)
	o, ok := r.get(key)
	if !ok {
		return nil, key, false
	}
	return &trafficClass{
		Name: id,
		QCI:  u64Def(o.Data, "qci", defaultQCI),
		ARP:  u64Def(o.Data, "arp", defaultARP),
		PDB:  u64Def(o.Data, "pdb", defaultPDB),
		PELR: i64Def(o.Data, "pelr", defaultPELR),
	}, key, true
}

// deviceGroup renders one device group for one core.
//
// imsis lists, in device-id order, the IMSI of every device of the group
// whose link is enabled (device-group/device/enable, default true) and
// that has a SIM card. A device without a SIM is skipped (it cannot attach
// anyway). A device whose SIM is disabled, or whose SIM has no IMSI, is an
// error of the whole device group: sending the group without that device
// would silently cut it off.
func (r *renderer) deviceGroup(s *site, dg map[string]any, core string, slices []string) {
	id := str(dg, "device-group-id")
	dgKey := child(s.key, "device-group", id)
	sources := []string{dgKey}
	var errs []string
	imsis := []string{}
	seen := map[string]bool{}
	for _, link := range entries(dg, "device") {
		if !boolDef(link, "enable", true) {
			continue
		}
		devID := str(link, "device-id")
		devKey := child(s.key, "device", devID)
		dev, ok := r.entry(s, "device", devID)
		if !ok {
			errs = append(errs, fmt.Sprintf("device %s does not exist", r.rest(devKey)))
			continue
		}
		sources = append(sources, devKey)
		simID := str(dev, "sim-card")
		if simID == "" {
			continue
		}
		simKey := child(s.key, "sim-card", simID)
		sources = append(sources, simKey)
		sim, ok := r.entry(s, "sim-card", simID)
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("device %s refers to SIM card %s, which does not exist", r.rest(devKey), r.rest(simKey)))
		case !boolDef(sim, "enable", true):
			errs = append(errs, fmt.Sprintf("device %s uses SIM card %s, which is disabled (disable the device in the group or enable the SIM)", r.rest(devKey), r.rest(simKey)))
		case str(sim, "imsi") == "":
			errs = append(errs, fmt.Sprintf("SIM card %s of device %s has no IMSI", r.rest(simKey), r.rest(devKey)))
		default:
			if imsi := str(sim, "imsi"); !seen[imsi] {
				seen[imsi] = true
				imsis = append(imsis, imsi)
			}
		}
	}
	var ipd ipDomain
	ipdID := str(dg, "ip-domain")
	if ipdID == "" {
		errs = append(errs, "it has no ip-domain")
	} else {
		ipdKey := child(s.key, "ip-domain", ipdID)
		sources = append(sources, ipdKey)
		d, ok := s.lists["ip-domain"][ipdID]
		if !ok {
			errs = append(errs, fmt.Sprintf("ip-domain %s does not exist", r.rest(ipdKey)))
		} else {
			ipd = ipDomain{
				DNN:          str(d, "dnn"),
				UEIPPool:     str(d, "subnet"),
				DNSPrimary:   str(d, "dns-primary"),
				DNSSecondary: str(d, "dns-secondary"),
				MTU:          u64Def(d, "mtu", defaultMTU),
			}
		}
	}
	if why := nameRule("device-group-id", id); why != "" {
		errs = append(errs, why)
	}
	mbr := sub(dg, "mbr")
	for _, dir := range []string{"uplink", "downlink"} {
		if why := bitrateRule(u64Def(mbr, dir, 0), math.MaxInt64, "dnn-mbr-"+dir); why != "" {
			errs = append(errs, "mbr "+dir+" "+why)
		}
	}
	qos := &ueDnnQos{Uplink: u64Def(mbr, "uplink", 0), Downlink: u64Def(mbr, "downlink", 0), BitrateUnit: bitrateUnit}
	if tcID := str(dg, "traffic-class"); tcID == "" {
		errs = append(errs, "it has no traffic-class")
	} else if tc, key, ok := r.trafficClass(tcID); !ok {
		errs = append(errs, fmt.Sprintf("traffic-class %s does not exist", r.rest(key)))
	} else {
		sources = append(sources, key)
		qos.TrafficClass = tc
	}
	ipd.QoS = qos
	sources = append(sources, slices...)
	d := controller.Desired{Sources: sources}
	if len(errs) > 0 {
		d.Err = fmt.Sprintf("device group %s: %s", r.rest(dgKey), strings.Join(errs, "; "))
	} else {
		var body any = deviceGroupList{IMSIs: imsis, IPDomainName: ipdID, SiteInfo: s.id, IPDomains: []ipDomain{ipd}}
		if r.a.legacyForm(core) {
			body = deviceGroupLegacy{IMSIs: imsis, IPDomainName: ipdID, SiteInfo: s.id, IPDomain: ipd}
		}
		d.Body = mustJSON(body)
	}
	r.put(kindDeviceGroup, core, s, id, d)
}

// slice renders one network slice for its core.
func (r *renderer) slice(s *site, sl map[string]any, core string) {
	id := str(sl, "slice-id")
	slKey := child(s.key, "slice", id)
	sources := []string{slKey, s.key}
	var errs []string
	if core == "" {
		_, why := r.core(s, sl)
		errs = append(errs, why)
	}
	if why := nameRule("slice-id", id); why != "" {
		errs = append(errs, why)
	}
	body := networkSlice{SiteDeviceGroup: []string{}, Rules: []filterRule{}}
	sst, err := strconv.ParseUint(str(sl, "sst"), 16, 8)
	if err != nil {
		errs = append(errs, fmt.Sprintf("sst %q is not a hex number", str(sl, "sst")))
	}
	// webconsole reads sst as a decimal number (strconv.ParseUint(sst, 10,
	// 32) in configapi/slice_helpers.go) and keys the S-NSSAI as
	// "%02x"(sst)+sd (SnssaiModelsToHex), so sd goes as six hex digits:
	// "1" would make the S-NSSAI "011" instead of "01000001".
	sd, err := padSD(str(sl, "sd"))
	if err != nil {
		errs = append(errs, err.Error())
	}
	body.SliceID = sliceID{SST: strconv.FormatUint(sst, 10), SD: sd}
	var deps []string // the core holds a slice's device groups first
	for _, ref := range entries(sl, "device-group") {
		dg := str(ref, "device-group")
		sources = append(sources, child(s.key, "device-group", dg))
		if boolDef(ref, "enable", true) {
			body.SiteDeviceGroup = append(body.SiteDeviceGroup, r.remoteName(kindDeviceGroup, core, dg))
			if _, ok := s.lists["device-group"][dg]; ok && core != "" {
				deps = append(deps, r.id(kindDeviceGroup, core, s, dg))
			}
		}
	}
	// webconsole sorts and compacts the list (parseAndValidateSliceRequest):
	// send it that way, so what it holds reads back equal.
	sort.Strings(body.SiteDeviceGroup)
	idef := sub(s.data, "imsi-definition")
	body.SiteInfo = siteInfo{SiteName: s.id, PLMN: plmn{MCC: str(idef, "mcc"), MNC: str(idef, "mnc")}, GNodeBs: []gNodeB{}}
	gnbNames := map[string]string{} // gNodeB name -> small cell key
	for _, sc := range entries(s.data, "small-cell") {
		if !boolDef(sc, "enable", true) {
			continue
		}
		scKey := child(s.key, "small-cell", str(sc, "small-cell-id"))
		sources = append(sources, scKey)
		tac, err := parseTAC(str(sc, "tac"))
		if err != nil {
			errs = append(errs, fmt.Sprintf("small cell %s: %v", r.rest(scKey), err))
		}
		name := ""
		if addr := str(sc, "address"); addr == "" {
			errs = append(errs, fmt.Sprintf("small cell %s has no address (the core's gNodeB name is derived from it)", r.rest(scKey)))
		} else {
			name = gNodeBName(addr)
			if why := nameRule("gNodeB name", name); why != "" {
				errs = append(errs, fmt.Sprintf("small cell %s: %s", r.rest(scKey), why))
			} else if other, dup := gnbNames[name]; dup {
				errs = append(errs, fmt.Sprintf("small cells %s and %s have the same gNodeB name %q (derived from their addresses); change one address",
					r.rest(other), r.rest(scKey), name))
			}
			gnbNames[name] = scKey
		}
		body.SiteInfo.GNodeBs = append(body.SiteInfo.GNodeBs, gNodeB{Name: name, TAC: tac})
	}
	if upfID := str(sl, "upf"); upfID != "" {
		upfKey := child(s.key, "upf", upfID)
		sources = append(sources, upfKey)
		if u, ok := s.lists["upf"][upfID]; ok {
			body.SiteInfo.UPF = &upfRef{Name: str(u, "address"), Port: u64Def(u, "port", 0)}
		} else {
			errs = append(errs, fmt.Sprintf("upf %s does not exist", r.rest(upfKey)))
		}
	}
	for _, f := range entries(sl, "filter") {
		rules, srcs, ferrs := r.filterRules(f)
		body.Rules = append(body.Rules, rules...)
		sources = append(sources, srcs...)
		errs = append(errs, ferrs...)
	}
	switch b := str(sl, "default-behavior"); b {
	case "ALLOW-ALL":
		body.Rules = append(body.Rules, defaultRule("ALLOW-ALL", "permit", priorityDefault, "0.0.0.0/0"))
	case "DENY-ALL":
		body.Rules = append(body.Rules, defaultRule("DENY-ALL", "deny", priorityDefault, "0.0.0.0/0"))
	case "ALLOW-PUBLIC":
		body.Rules = append(body.Rules,
			defaultRule("DENY-CLASS-A", "deny", priorityDefault, "10.0.0.0/8"),
			defaultRule("DENY-CLASS-B", "deny", priorityDefault+1, "172.16.0.0/12"),
			defaultRule("DENY-CLASS-C", "deny", priorityDefault+2, "192.168.0.0/16"),
			defaultRule("ALLOW-ALL", "permit", priorityDefault+3, "0.0.0.0/0"))
	default:
		errs = append(errs, fmt.Sprintf("default-behavior %q is not ALLOW-ALL, DENY-ALL or ALLOW-PUBLIC", b))
	}
	d := controller.Desired{Sources: dedupe(sources), DependsOn: deps}
	if len(errs) > 0 {
		d.Err = fmt.Sprintf("slice %s: %s", r.rest(slKey), strings.Join(errs, "; "))
	} else {
		d.Body = mustJSON(body)
	}
	r.put(kindNetworkSlice, core, s, id, d)
}

func defaultRule(name, action string, prio uint64, endpoint string) filterRule {
	return filterRule{Name: name, Priority: prio, Action: action, Endpoint: endpoint, TrafficClass: defaultRuleClass()}
}

// filterRules turns one slice filter into one rule per endpoint of its
// application, in endpoint-id order.
func (r *renderer) filterRules(f map[string]any) ([]filterRule, []string, []string) {
	appID := str(f, "application")
	appKey := child(r.rootKey(), "application", appID)
	o, ok := r.get(appKey)
	if !ok {
		return nil, nil, []string{fmt.Sprintf("application %s does not exist", r.rest(appKey))}
	}
	r.deps.subtree(r.snap, appKey+"/") // its endpoints
	app, _ := r.snap.Tree(o)
	sources := []string{appKey}
	var rules []filterRule
	var errs []string
	action := "deny"
	if boolDef(f, "allow", true) {
		action = "permit"
	}
	for _, ep := range entries(app, "endpoint") {
		epID := str(ep, "endpoint-id")
		epRest := r.rest(child(appKey, "endpoint", epID))
		rule := filterRule{
			Name:     appID + "-" + epID,
			Priority: u64Def(f, "priority", 0),
			Action:   action,
			Endpoint: endpointCIDR(str(app, "address")),
		}
		start := u64Def(ep, "port-start", 0)
		end := u64Def(ep, "port-end", start)
		rule.DestPortStart, rule.DestPortEnd = &start, &end
		proto, err := protocolNumber(strDef(ep, "protocol", "TCP"))
		if err != nil {
			errs = append(errs, fmt.Sprintf("endpoint %s: %v", epRest, err))
		}
		rule.Protocol = &proto
		mbr := sub(ep, "mbr")
		rule.Uplink, rule.Downlink = u64Def(mbr, "uplink", 0), u64Def(mbr, "downlink", 0)
		for _, v := range []struct {
			dir string
			bps uint64
		}{{"uplink", rule.Uplink}, {"downlink", rule.Downlink}} {
			if why := bitrateRule(v.bps, math.MaxInt32, "app-mbr-"+v.dir); why != "" {
				errs = append(errs, fmt.Sprintf("endpoint %s: mbr %s %s", epRest, v.dir, why))
			}
		}
		if _, ok := mbr["uplink"]; ok {
			rule.BitrateUnit = bitrateUnit
		} else if _, ok := mbr["downlink"]; ok {
			rule.BitrateUnit = bitrateUnit
		}
		if tcID := str(ep, "traffic-class"); tcID != "" {
			tc, key, ok := r.trafficClass(tcID)
			if !ok {
				errs = append(errs, fmt.Sprintf("endpoint %s: traffic-class %s does not exist", epRest, r.rest(key)))
			} else {
				sources = append(sources, key)
				rule.TrafficClass = tc
			}
		} else {
			rule.TrafficClass = defaultRuleClass()
		}
		rules = append(rules, rule)
	}
	return rules, sources, errs
}

// upf renders what one UPF's config endpoint should hold for the slices
// that name it.
//
// omec-project/upf keeps a single slice configuration (upf.sliceInfo in
// pfcpiface/upf.go, replaced by every POST to /v1/config/network-slices,
// pfcpiface/web_service.go handleSliceConfig): one pair of meters and one
// list of UE pools. So AMP pushes one configuration per UPF. With one
// slice it is that slice's. When several slices share the UPF it is, in
// slice-id order:
//
//   - sliceName: their ids joined with "+";
//   - ueResourceInfo: the UE pools (enabled device groups) of all of them;
//   - the meter, per direction: the sum of their MBRs and burst sizes, or
//     none (unmetered) when any of them sets no MBR in that direction.
//
// The sharing slices then get a degraded status: their traffic shares one
// meter, so each slice's own MBR is not enforced on that UPF.
func (r *renderer) upf(s *site, upfID string, slices []map[string]any) {
	u, ok := s.lists["upf"][upfID]
	if !ok {
		return // the slice reports the missing UPF
	}
	if str(u, "config-endpoint") == "" {
		return
	}
	sort.Slice(slices, func(i, j int) bool { return str(slices[i], "slice-id") < str(slices[j], "slice-id") })
	upfKey := child(s.key, "upf", upfID)
	sources := []string{upfKey}
	cfg, err := r.backend(endpoint.UPF, str(u, "config-endpoint"))
	if err != nil {
		for _, sl := range slices {
			sources = append(sources, child(s.key, "slice", str(sl, "slice-id")))
		}
		r.put(kindUPF, "", s, upfID, controller.Desired{Sources: sources,
			Err: fmt.Sprintf("UPF %s slice configuration: %s/config-endpoint: %v", r.rest(upfKey), r.rest(upfKey), err)})
		return
	}
	var names, rests, errs []string
	var body upfSlice
	metered := [2]bool{true, true} // uplink, downlink: every slice sets an MBR
	seenPool := map[string]bool{}
	var deps []string // a UPF is configured for slices its core holds
	for _, sl := range slices {
		id := str(sl, "slice-id")
		slKey := child(s.key, "slice", id)
		names, rests = append(names, id), append(rests, r.rest(slKey))
		sources = append(sources, slKey)
		if core, _ := r.core(s, sl); core != "" {
			deps = append(deps, r.id(kindNetworkSlice, core, s, id))
		}
		mbr := sub(sl, "mbr")
		for i, dir := range []string{"uplink", "downlink"} {
			if _, ok := mbr[dir]; !ok {
				metered[i] = false
				continue
			}
			rate, burst := u64Def(mbr, dir, 0), u64Def(mbr, dir+"-burst-size", defaultBurst)
			if i == 0 {
				body.SliceQos.Uplink, body.SliceQos.UplinkBurst = addSat(body.SliceQos.Uplink, rate), addSat(body.SliceQos.UplinkBurst, burst)
			} else {
				body.SliceQos.Downlink, body.SliceQos.DownlinkBurst = addSat(body.SliceQos.Downlink, rate), addSat(body.SliceQos.DownlinkBurst, burst)
			}
		}
		for _, ref := range entries(sl, "device-group") {
			if !boolDef(ref, "enable", true) {
				continue
			}
			dgID := str(ref, "device-group")
			dgKey := child(s.key, "device-group", dgID)
			sources = append(sources, dgKey)
			dg, ok := s.lists["device-group"][dgID]
			if !ok {
				errs = append(errs, fmt.Sprintf("device group %s does not exist", r.rest(dgKey)))
				continue
			}
			ipdID := str(dg, "ip-domain")
			ipd, ok := s.lists["ip-domain"][ipdID]
			if !ok {
				errs = append(errs, fmt.Sprintf("device group %s has no ip-domain", r.rest(dgKey)))
				continue
			}
			sources = append(sources, child(s.key, "ip-domain", ipdID))
			if !seenPool[dgID] {
				seenPool[dgID] = true
				body.UEResourceInfo = append(body.UEResourceInfo, ueResourceInfo{Pool: dgID, DNN: str(ipd, "dnn")})
			}
		}
	}
	if !metered[0] {
		body.SliceQos.Uplink, body.SliceQos.UplinkBurst = 0, 0
	}
	if !metered[1] {
		body.SliceQos.Downlink, body.SliceQos.DownlinkBurst = 0, 0
	}
	if metered[0] || metered[1] {
		body.SliceQos.BitrateUnit = bitrateUnit
	}
	body.SliceName = r.remoteName(kindUPF, cfg, strings.Join(names, "+"))
	d := controller.Desired{Sources: dedupe(sources), DependsOn: deps}
	if len(errs) > 0 {
		d.Err = fmt.Sprintf("UPF %s slice configuration: %s", r.rest(upfKey), strings.Join(errs, "; "))
	} else {
		d.Body = mustJSON(body)
	}
	if len(slices) > 1 {
		d.Degraded = fmt.Sprintf("slices %s share UPF %s, which holds one slice configuration: it carries all their UE pools and one meter (the sum of their MBRs, none in a direction where a slice sets none), so per-slice QoS is not enforced there (give each slice its own UPF to enforce it)",
			strings.Join(rests, ", "), r.rest(upfKey))
	}
	r.put(kindUPF, cfg, s, upfID, d)
}

// addSat adds without wrapping around.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// padSD writes a slice differentiator (1..6 hex digits) as the six hex
// digits webconsole keys S-NSSAIs with; "" stays "" (no sd).
func padSD(sd string) (string, error) {
	if sd == "" {
		return "", nil
	}
	v, err := strconv.ParseUint(sd, 16, 24)
	if err != nil {
		return "", fmt.Errorf("sd %q is not 1..6 hex digits", sd)
	}
	return fmt.Sprintf("%06x", v), nil
}

// markCollisions turns objects that would land under the same name on the
// same backend into errors: webconsole's names are global per core, so two
// sites sharing a core must not both have a device group "cameras".
func markCollisions(out map[string]controller.Desired) {
	byName := map[string][]string{}
	for id, d := range out {
		if d.Backend == "" {
			continue
		}
		p, err := parseID(id)
		if err != nil {
			continue
		}
		k := p.kind + "\x00" + d.Backend + "\x00" + p.name
		if p.kind == kindUPF {
			k = p.kind + "\x00" + d.Backend // a UPF holds one configuration
		}
		byName[k] = append(byName[k], id)
	}
	for _, ids := range byName {
		if len(ids) < 2 {
			continue
		}
		sort.Strings(ids)
		for _, id := range ids {
			d := out[id]
			p, _ := parseID(id)
			// Only the enterprise's own sites are named: this message is
			// shown to the enterprise (Options.Backends keeps two
			// enterprises apart; without it, another's is only "another").
			var others []string
			for _, o := range ids {
				if o != id {
					if q, _ := parseID(o); q.enterprise == p.enterprise {
						others = append(others, "site "+q.site)
					} else {
						others = append(others, "another enterprise's")
					}
				}
			}
			msg := fmt.Sprintf("%s %q collides on %s with the one of %s: the backend's names are global, rename one",
				p.kind, p.name, d.Backend, strings.Join(others, ", "))
			if d.Err != "" {
				msg = d.Err + "; " + msg
			}
			d.Err, d.Body = msg, nil
			out[id] = d
		}
	}
}

// endpointCIDR makes an application address a prefix: a bare host gets /32
// (/128 for IPv6), as Aether's sdcore-adapter does.
func endpointCIDR(addr string) string {
	if addr == "" || strings.Contains(addr, "/") {
		return addr
	}
	if strings.Contains(addr, ":") {
		return addr + "/128"
	}
	return addr + "/32"
}

// parseTAC turns a small cell's TAC (1..6 hex digits) into the integer
// webconsole takes (1..16777215).
func parseTAC(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 16, 24)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("tac %q is not a hex number in 1..FFFFFF", s)
	}
	return v, nil
}

// protocolNumber maps an endpoint protocol to its IP protocol number.
func protocolNumber(p string) (uint64, error) {
	switch strings.ToUpper(p) {
	case "TCP":
		return 6, nil
	case "UDP":
		return 17, nil
	}
	return 0, fmt.Errorf("protocol %q is not TCP or UDP", p)
}

// eachEntry calls fn, in key order, for every object directly under prefix
// (a list's entries), seeking past each entry's own subtree instead of
// walking it: a site's 100,000 SIM cards cost one seek, not 100,000 steps.
func eachEntry(snap *config.Snapshot, prefix string, fn func(*config.Object)) {
	it := snap.Objects.Root().Iterator()
	it.SeekLowerBound([]byte(prefix))
	for k, o, ok := it.Next(); ok; k, o, ok = it.Next() {
		if !bytes.HasPrefix(k, []byte(prefix)) {
			return
		}
		if i := bytes.IndexByte(k[len(prefix):], '/'); i >= 0 {
			// below entry k[:len(prefix)+i]: its subtree ends before the
			// entry's key followed by '0', the byte after '/'
			next := make([]byte, len(prefix)+i+1)
			copy(next, k[:len(prefix)+i])
			next[len(next)-1] = '/' + 1
			it = snap.Objects.Root().Iterator()
			it.SeekLowerBound(next)
			continue
		}
		fn(o)
	}
}

// --- canonical-data helpers ---

func child(parent, list, id string) string {
	return parent + "/" + list + "/" + schema.EscapeSegment(id)
}

func entries(m map[string]any, list string) []map[string]any {
	items, _ := m[list].([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if e, ok := it.(map[string]any); ok {
			out = append(out, e)
		}
	}
	return out
}

func sub(m map[string]any, name string) map[string]any {
	s, _ := m[name].(map[string]any)
	return s
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func strDef(m map[string]any, k, def string) string {
	if s, ok := m[k].(string); ok {
		return s
	}
	return def
}

func u64Def(m map[string]any, k string, def uint64) uint64 {
	switch v := m[k].(type) {
	case uint64:
		return v
	case int64:
		if v >= 0 {
			return uint64(v)
		}
	}
	return def
}

func i64Def(m map[string]any, k string, def int64) int64 {
	switch v := m[k].(type) {
	case int64:
		return v
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
	}
	return def
}

func boolDef(m map[string]any, k string, def bool) bool {
	if b, ok := m[k].(bool); ok {
		return b
	}
	return def
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sdcore: marshal %T: %v", v, err)) // plain structs: cannot fail
	}
	return b
}
