package provisionapi

import (
	"encoding/json"
	"net/http"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/conventions"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/schema"
)

// conventionsRoutes are the book's conventions (docs/provisioning.md,
// "Site conventions"): a site generated from a short spec, and a site
// checked against the conventions.
func conventionsRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "POST /provision/sites", Name: "provision-site", Bulk: true, Handler: provisionSite},
		{Pattern: "GET /provision/{site}/check", Name: "provision-check", Handler: checkSite},
	}
}

// provisionSite answers POST /provision/sites: the spec's site, generated
// by the conventions, merged as ONE transaction (?dry-run: the diff,
// nothing written). A spec whose site is already as generated changes
// nothing: no transaction is recorded (X-AMP-Transaction-Unchanged).
func provisionSite(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, err := inventorySet(h, r.URL.Path)
	if err != nil {
		return err
	}
	base := schema.RESTBase(set)
	// The inventory is the operator's: refused before the body is read.
	if err := h.Authorize(r, auth.Write, base+"/site"); err != nil {
		return err
	}
	body, dry, err := h.ReadObject(r, "a site spec (docs/provisioning.md)")
	if err != nil {
		return err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return schema.Errorf(schema.KindInvalid, "/", "%v", err)
	}
	spec, probs := conventions.Decode(raw)
	if probs != nil {
		return problemsErr(probs)
	}
	gen, probs := conventions.Generate(spec, inventory.Load(h.Engine().Snapshot(), set))
	if probs != nil {
		return problemsErr(probs)
	}
	var edits []config.Edit
	add := func(list string, entry map[string]any, key string) error {
		loc, err := schema.Resolve(set, "", []string{list, schema.EscapeSegment(key)})
		if err != nil {
			return err
		}
		val, err := schema.DecodeJSON(loc.Node, entry, loc.REST(), true, schema.DecodeOptions{})
		if err != nil {
			return err
		}
		h.Touch(r, loc.REST())
		if err := h.Authorize(r, auth.Write, loc.REST()); err != nil {
			return err
		}
		edits = append(edits, config.Edit{Op: config.OpMerge, Loc: loc, Value: val})
		return nil
	}
	if err := add("organization", gen.Organization, spec.Organization.ID); err != nil {
		return err
	}
	for _, m := range gen.Manufacturers {
		if err := add("manufacturer", m, m["manufacturer-id"].(string)); err != nil {
			return err
		}
	}
	for _, dt := range gen.DeviceTypes {
		if err := add("device-type", dt, dt["device-type-id"].(string)); err != nil {
			return err
		}
	}
	if err := add("site", gen.Site, spec.Site); err != nil {
		return err
	}
	for _, ip := range gen.IPs {
		if err := add("ip-address", ip, ip["address"].(string)); err != nil {
			return err
		}
	}
	if err := h.Commit(w, r, dry, edits); err != nil || dry {
		return err
	}
	metricsOf(h).siteObjects.Observe(float64(len(edits)))
	return nil
}

func problemsErr(probs []conventions.Problem) error {
	var p schema.Problems
	for _, x := range probs {
		p.Add(x.Path, "%s", x.Reason)
	}
	return p.Err()
}

// CheckResult is the answer of GET /provision/{site}/check.
type CheckResult struct {
	Site  string `json:"site"`
	Index uint64 `json:"index"`
	// Departures from the conventions, by path; empty when there is none.
	Departures []conventions.Problem `json:"departures"`
}

// checkSite answers GET /provision/{site}/check: every departure of the
// site from the conventions, with the inventory path and the reason.
func checkSite(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	snap, set, s, err := readSite(h, r)
	if err != nil {
		return err
	}
	base, id := schema.RESTBase(set), s.ID
	ips := inventory.Load(snap, set).IPs
	out := CheckResult{Site: id, Index: snap.Index, Departures: conventions.Check(s, ips, base)}
	if out.Departures == nil {
		out.Departures = []conventions.Problem{}
	}
	return h.WriteJSON(w, http.StatusOK, out)
}
