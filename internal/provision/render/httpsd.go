package render

import (
	"encoding/json"
	"net"
	"slices"
	"strconv"

	"github.com/amp-edge/amp/internal/provision/inventory"
)

// The Prometheus artifacts are the site's scrape targets in the shape of
// Prometheus' HTTP service discovery (http_sd_configs; file_sd_configs
// reads the same JSON): a list of {"targets": [...], "labels": {...}},
// one group per device, one file per exporter, so that each is one scrape
// job with its own relabelling:
//
//	prometheus/node.json      the node exporter on every server, at its primary address :9100
//	prometheus/snmp.json      every switch's primary address, for the SNMP exporter (the target is its ?target=)
//	prometheus/blackbox.json  every radio's primary address, for the blackbox exporter's ICMP probe
//
// Only active devices with a primary address are targets (a planned,
// staged, offline, failed or decommissioning device is not scraped).
// Labels: site, deployment (when the device has one), role, device (its
// id) and instance (its FQDN, which Prometheus keeps instead of the
// address).
const (
	promKind = "prometheus"
	// nodeExporterPort is where the node exporter listens by default.
	nodeExporterPort = 9100
)

func init() { Register(Renderer{Kind: promKind, Render: renderHTTPSD}) }

// promJobs says which exporter's file each role's devices are in, and the
// port of the target (0: the bare address, which the exporter probes).
var promJobs = []struct {
	file  string
	roles []string
	port  int
}{
	{"node.json", []string{"management-server", "compute-server"}, nodeExporterPort},
	{"snmp.json", []string{"management-switch", "fabric-switch"}, 0},
	{"blackbox.json", []string{"radio"}, 0},
}

// targetGroup is one entry of an http_sd list.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// renderHTTPSD renders the three target lists; a list with no target is
// [] (Prometheus takes it: the job has no targets yet).
func renderHTTPSD(inv *inventory.Inventory, site *inventory.Site) ([]Artifact, error) {
	hosts := siteHosts(inv, site)
	arts := make([]Artifact, 0, len(promJobs))
	for _, job := range promJobs {
		groups := []targetGroup{}
		for _, h := range hosts {
			if h.primary == nil || h.dev.Status != "active" || !slices.Contains(job.roles, h.dev.Role) {
				continue
			}
			target := h.primary.IP.Address
			if job.port != 0 {
				target = net.JoinHostPort(target, strconv.Itoa(job.port))
			}
			labels := map[string]string{"site": site.ID, "role": h.dev.Role, "device": h.dev.ID, "instance": h.name}
			if h.dev.Deployment != "" {
				labels["deployment"] = h.dev.Deployment
			}
			groups = append(groups, targetGroup{Targets: []string{target}, Labels: labels})
		}
		b, err := json.MarshalIndent(groups, "", "  ")
		if err != nil {
			return nil, err
		}
		arts = append(arts, Artifact{Name: promKind + "/" + job.file, Content: append(b, '\n')})
	}
	return arts, nil
}
