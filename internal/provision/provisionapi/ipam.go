package provisionapi

import (
	"net/http"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/provision/inventory"
	"github.com/amp-edge/amp/internal/provision/ipam"
	"github.com/amp-edge/amp/internal/schema"
)

// IPAM's routes (NetBox's available-ips, available-prefixes and
// available-vlans): GET lists what is free, POST allocates one object
// ({…}, answered with the object) or several ([{…}, …], answered with the
// list) as ONE transaction, 201.
func ipamRoutes() []compat.Route {
	base := "/" + inventory.SetName + "/v" + inventory.Version + "/site/{site}"
	return []compat.Route{
		{Pattern: "GET " + base + "/prefix/{prefix}/available-ips", Name: "ipam-ips", Handler: freeIPs},
		{Pattern: "POST " + base + "/prefix/{prefix}/available-ips", Name: "ipam-ips", Handler: allocateIPs},
		{Pattern: "GET " + base + "/prefix/{prefix}/available-prefixes", Name: "ipam-prefixes", Handler: freePrefixes},
		{Pattern: "POST " + base + "/prefix/{prefix}/available-prefixes", Name: "ipam-prefixes", Handler: allocatePrefixes},
		{Pattern: "GET " + base + "/available-vlans", Name: "ipam-vlans", Handler: freeVLANs},
		{Pattern: "POST " + base + "/available-vlans", Name: "ipam-vlans", Handler: allocateVLANs},
	}
}

// Paging of the lists, as NetBox's: ?limit, 50 by default.
const (
	defaultLimit = 50
	maxLimit     = 1000
)

func limitOf(h compat.Host, r *http.Request) (int, error) {
	v, ok, err := h.QueryUint(r, "limit")
	if err != nil {
		return 0, err
	}
	if !ok {
		return defaultLimit, nil
	}
	if v < 1 || v > maxLimit {
		return 0, schema.Errorf(schema.KindInvalid, "?limit", "must be from 1 to %d", maxLimit)
	}
	return int(v), nil
}

// readPrefix authorizes reading a site's prefix and returns the set.
func readPrefix(h compat.Host, r *http.Request) (*schema.ModelSet, error) {
	set := inventory.Set(h.Schema())
	return set, h.Authorize(r, auth.Read, ipam.PrefixPath(set, r.PathValue("site"), r.PathValue("prefix")))
}

func freeIPs(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, err := readPrefix(h, r)
	if err != nil {
		return err
	}
	limit, err := limitOf(h, r)
	if err != nil {
		return err
	}
	free, err := ipam.FreeIPs(h.Engine().Snapshot(), set, r.PathValue("site"), r.PathValue("prefix"), limit)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, free)
}

func allocateIPs(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, err := readPrefix(h, r)
	if err != nil {
		return err
	}
	// Refused before anything is read or chosen; each address chosen is
	// authorized again before it is committed.
	if err := h.Authorize(r, auth.Write, schema.RESTBase(set)+"/ip-address"); err != nil {
		return err
	}
	return allocate(h, w, r, kindIP, func(items []map[string]any, list bool, submit ipam.Submit) (*ipam.Choice, *config.Result, error) {
		return ipam.AllocateIPs(r.Context(), h.Engine(), set, r.PathValue("site"), r.PathValue("prefix"), items, list, submit)
	})
}

func freePrefixes(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, err := readPrefix(h, r)
	if err != nil {
		return err
	}
	free, err := ipam.FreePrefixes(h.Engine().Snapshot(), set, r.PathValue("site"), r.PathValue("prefix"))
	if err != nil {
		return err
	}
	out := make([]map[string]string, len(free))
	for i, p := range free {
		out[i] = map[string]string{"prefix": p}
	}
	return h.WriteJSON(w, http.StatusOK, out)
}

func allocatePrefixes(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, err := readPrefix(h, r)
	if err != nil {
		return err
	}
	if err := h.Authorize(r, auth.Write, sitePath(set, r.PathValue("site"))+"/prefix"); err != nil {
		return err
	}
	return allocate(h, w, r, kindPrefix, func(items []map[string]any, list bool, submit ipam.Submit) (*ipam.Choice, *config.Result, error) {
		return ipam.AllocatePrefixes(r.Context(), h.Engine(), set, r.PathValue("site"), r.PathValue("prefix"), items, list, submit)
	})
}

func freeVLANs(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, err := inventorySet(h, r.URL.Path)
	if err != nil {
		return err
	}
	if err := h.Authorize(r, auth.Read, sitePath(set, r.PathValue("site"))+"/vlan"); err != nil {
		return err
	}
	limit, err := limitOf(h, r)
	if err != nil {
		return err
	}
	free, err := ipam.FreeVLANs(h.Engine().Snapshot(), set, r.PathValue("site"), limit)
	if err != nil {
		return err
	}
	return h.WriteJSON(w, http.StatusOK, free)
}

func allocateVLANs(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	set, err := inventorySet(h, r.URL.Path)
	if err != nil {
		return err
	}
	if err := h.Authorize(r, auth.Write, sitePath(set, r.PathValue("site"))+"/vlan"); err != nil {
		return err
	}
	return allocate(h, w, r, kindVLAN, func(items []map[string]any, list bool, submit ipam.Submit) (*ipam.Choice, *config.Result, error) {
		return ipam.AllocateVLANs(r.Context(), h.Engine(), set, r.PathValue("site"), items, list, submit)
	})
}

// allocate reads the body, runs an allocation of kind whose every attempt
// is authorized path by path and committed as the caller, and answers 201
// with what it created (a dry run: 200 with the changes).
func allocate(h compat.Host, w http.ResponseWriter, r *http.Request, kind string,
	run func(items []map[string]any, list bool, submit ipam.Submit) (*ipam.Choice, *config.Result, error)) error {
	body, dry, err := h.ReadJSON(r)
	if err != nil {
		return err
	}
	items, list, err := ipam.Items(body)
	if err != nil {
		return err
	}
	attempts := 0
	c, res, err := run(items, list, func(c *ipam.Choice) (*config.Result, error) {
		attempts++
		for _, p := range c.Paths {
			if err := h.Authorize(r, auth.Write, p); err != nil {
				return nil, err
			}
		}
		return h.Submit(w, r, dry, c.Edits)
	})
	if !dry { // a dry run allocates nothing
		metricsOf(h).allocated(kind, attempts, err)
	}
	if err != nil {
		return err
	}
	for _, p := range c.Paths {
		h.Touch(r, p)
	}
	if res.DryRun {
		changes := res.Changes
		if changes == nil {
			changes = []config.Change{}
		}
		return h.WriteJSON(w, http.StatusOK, map[string]any{"dry-run": true, "changes": changes})
	}
	if list {
		return h.WriteJSON(w, http.StatusCreated, c.Created)
	}
	return h.WriteJSON(w, http.StatusCreated, c.Created[0])
}
