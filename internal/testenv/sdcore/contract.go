package sdcore

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
)

// The request bodies, with the Go types and JSON tags of
// omec-project/webconsole's configmodels (model_device_groups.go,
// model_device_groups_ip_domain_expanded.go,
// model_device_groups_ip_domain_expanded_ue_dnn_qos.go,
// model_traffic_class.go, model_slice.go, model_slice_slice_id.go,
// model_slice_site_info.go, model_slice_site_info_plmn.go,
// model_slice_site_info_g_node_bs.go, model_application_filtering_rules.go)
// and omec-project/upf's pfcpiface/config_handler.go. The types matter:
// an int32 field refuses a number beyond 2147483647, a string field refuses
// a number.

type trafficClassInfo struct {
	Name string `json:"name,omitempty"`
	Qci  int32  `json:"qci,omitempty"`
	Arp  int32  `json:"arp,omitempty"`
	Pdb  int32  `json:"pdb,omitempty"`
	Pelr int32  `json:"pelr,omitempty"`
}

type ueDnnQos struct {
	DnnMbrUplink   int64             `json:"dnn-mbr-uplink,omitempty"`
	DnnMbrDownlink int64             `json:"dnn-mbr-downlink,omitempty"`
	BitrateUnit    string            `json:"bitrate-unit,omitempty"`
	TrafficClass   *trafficClassInfo `json:"traffic-class,omitempty"`
}

type ipDomainExpanded struct {
	Dnn          string    `json:"dnn,omitempty"`
	UeIpPool     string    `json:"ue-ip-pool,omitempty"`
	DnsPrimary   string    `json:"dns-primary,omitempty"`
	DnsSecondary string    `json:"dns-secondary,omitempty"`
	Mtu          int32     `json:"mtu,omitempty"`
	UeDnnQos     *ueDnnQos `json:"ue-dnn-qos,omitempty"`
}

// deviceGroupsLegacy is DeviceGroups before the multiple-DNN change.
type deviceGroupsLegacy struct {
	Imsis            []string          `json:"imsis"`
	SiteInfo         string            `json:"site-info,omitempty"`
	IpDomainName     string            `json:"ip-domain-name,omitempty"`
	IpDomainExpanded *ipDomainExpanded `json:"ip-domain-expanded,omitempty"`
}

// deviceGroupsList is DeviceGroups after it (IpDomainsExpanded).
type deviceGroupsList struct {
	Imsis             []string           `json:"imsis"`
	SiteInfo          string             `json:"site-info,omitempty"`
	IpDomainName      string             `json:"ip-domain-name,omitempty"`
	IpDomainsExpanded []ipDomainExpanded `json:"ip-domains,omitempty"`
}

type sliceSliceID struct {
	Sst string `json:"sst,omitempty"`
	Sd  string `json:"sd,omitempty"`
}

type sliceSiteInfoPlmn struct {
	Mcc string `json:"mcc,omitempty"`
	Mnc string `json:"mnc,omitempty"`
}

type sliceSiteInfoGNodeBs struct {
	Name string `json:"name,omitempty"`
	Tac  int32  `json:"tac,omitempty"`
}

type sliceSiteInfo struct {
	SiteName string                 `json:"site-name,omitempty"`
	Plmn     sliceSiteInfoPlmn      `json:"plmn,omitempty"`
	GNodeBs  []sliceSiteInfoGNodeBs `json:"gNodeBs"`
	Upf      map[string]any         `json:"upf,omitempty"`
}

type sliceApplicationFilteringRules struct {
	RuleName       string            `json:"rule-name,omitempty"`
	Priority       int32             `json:"priority,omitempty"`
	Action         string            `json:"action,omitempty"`
	Endpoint       string            `json:"endpoint,omitempty"`
	Protocol       int32             `json:"protocol,omitempty"`
	StartPort      int32             `json:"dest-port-start,omitempty"`
	EndPort        int32             `json:"dest-port-end,omitempty"`
	AppMbrUplink   int32             `json:"app-mbr-uplink,omitempty"`
	AppMbrDownlink int32             `json:"app-mbr-downlink,omitempty"`
	BitrateUnit    string            `json:"bitrate-unit,omitempty"`
	TrafficClass   *trafficClassInfo `json:"traffic-class,omitempty"`
	RuleTrigger    string            `json:"rule-trigger,omitempty"`
}

type slice struct {
	SliceId                   sliceSliceID                     `json:"slice-id,omitempty"`
	SiteDeviceGroup           []string                         `json:"site-device-group"`
	SiteInfo                  sliceSiteInfo                    `json:"site-info,omitempty"`
	ApplicationFilteringRules []sliceApplicationFilteringRules `json:"application-filtering-rules,omitempty"`
}

// upfNetworkSlice is pfcpiface's NetworkSlice. Its decoder matches keys
// case-insensitively, so "uplinkMBR" fills UplinkMbr.
type upfNetworkSlice struct {
	SliceName string `json:"sliceName"`
	SliceQos  struct {
		UplinkMbr    uint64 `json:"uplinkMbr"`
		DownlinkMbr  uint64 `json:"downlinkMbr"`
		BitrateUnit  string `json:"bitrateUnit"`
		UlBurstBytes uint64 `json:"uplinkBurstSize"`
		DlBurstBytes uint64 `json:"downlinkBurstSize"`
	} `json:"sliceQos"`
	UeResInfo []struct {
		Dnn  string `json:"dnn"`
		Name string `json:"uePoolId"`
	} `json:"ueResourceInfo"`
}

func validBitrateUnit(u string) bool {
	switch u {
	case "", "bps", "kbps", "mbps", "gbps", "Kbps", "Mbps", "Gbps":
		return true
	}
	return false
}

// validateDeviceGroup binds a device group in the form this webconsole
// takes and checks what SD-Core needs: an imsis list (possibly empty: an
// absent one is ignored by SD-Core, Aether's adapter notes, so it is
// refused here), and an IP domain with a DNN and a UE pool.
func validateDeviceGroup(body []byte, listForm bool) error {
	var imsis []string
	var domains []ipDomainExpanded
	if listForm {
		var dg deviceGroupsList
		if err := strictDecode(body, &dg); err != nil {
			return err
		}
		imsis, domains = dg.Imsis, dg.IpDomainsExpanded
		if len(domains) == 0 {
			return errors.New("ip-domains is required")
		}
	} else {
		var dg deviceGroupsLegacy
		if err := strictDecode(body, &dg); err != nil {
			return err
		}
		if dg.IpDomainExpanded == nil {
			return errors.New("ip-domain-expanded is required")
		}
		imsis, domains = dg.Imsis, []ipDomainExpanded{*dg.IpDomainExpanded}
	}
	if imsis == nil {
		return errors.New("imsis is required (send [] for none)")
	}
	for _, imsi := range imsis {
		if _, err := strconv.ParseUint(imsi, 10, 64); err != nil || len(imsi) < 14 || len(imsi) > 15 {
			return fmt.Errorf("imsi %q is not 14 or 15 digits", imsi)
		}
	}
	for i, d := range domains {
		if d.Dnn == "" {
			return fmt.Errorf("ip domain %d: dnn is required", i)
		}
		if _, _, err := net.ParseCIDR(d.UeIpPool); err != nil {
			return fmt.Errorf("ip domain %d: ue-ip-pool %q is not a prefix", i, d.UeIpPool)
		}
		if q := d.UeDnnQos; q != nil {
			if !validBitrateUnit(q.BitrateUnit) {
				return fmt.Errorf("ip domain %d: unknown bitrate-unit %q", i, q.BitrateUnit)
			}
			if q.DnnMbrUplink < 0 || q.DnnMbrDownlink < 0 {
				return fmt.Errorf("ip domain %d: negative bitrate", i)
			}
		}
	}
	return nil
}

// validateSlice binds a slice and applies the checks of webconsole's
// parseAndValidateSliceRequest (configapi/slice_helpers.go): a gNodeB TAC
// in 1..16777215, a traffic class on every rule, TCP/UDP port ranges of at
// most 100 ports, an endpoint that is an address, a prefix or "any", a PLMN
// with both or neither of MCC and MNC; and an SST webconsole can parse
// (strconv.ParseUint(sst, 10, 32)). Unlike webconsole it does not require
// gNodeB names to match NAME_PATTERN (see docs/sdcore.md).
func validateSlice(body []byte) error {
	var s slice
	if err := strictDecode(body, &s); err != nil {
		return err
	}
	if s.SliceId.Sst == "" {
		return errors.New("slice-id/sst is required")
	}
	if v, err := strconv.ParseUint(s.SliceId.Sst, 10, 32); err != nil || v > 255 {
		return fmt.Errorf("could not parse SST %q", s.SliceId.Sst)
	}
	if s.SliceId.Sd != "" {
		if _, err := strconv.ParseUint(s.SliceId.Sd, 16, 24); err != nil {
			return fmt.Errorf("sd %q is not 1..6 hex digits", s.SliceId.Sd)
		}
	}
	if s.SiteInfo.SiteName == "" {
		return errors.New("site-info/site-name is required")
	}
	if (s.SiteInfo.Plmn.Mcc == "") != (s.SiteInfo.Plmn.Mnc == "") {
		return fmt.Errorf("incomplete PLMN (mcc=%q, mnc=%q)", s.SiteInfo.Plmn.Mcc, s.SiteInfo.Plmn.Mnc)
	}
	for _, g := range s.SiteInfo.GNodeBs {
		if g.Name == "" {
			return errors.New("gNodeB name is required")
		}
		if g.Tac < 1 || g.Tac > 16777215 {
			return fmt.Errorf("invalid TAC %d for gNB %s", g.Tac, g.Name)
		}
	}
	for _, r := range s.ApplicationFilteringRules {
		if r.RuleName == "" {
			return errors.New("rule-name is required")
		}
		if r.Action != "permit" && r.Action != "deny" {
			return fmt.Errorf("rule %s: action %q is not permit or deny", r.RuleName, r.Action)
		}
		if r.TrafficClass == nil {
			return fmt.Errorf("rule %s: TrafficClass (QCI, ARP) required but not provided", r.RuleName)
		}
		if r.Endpoint != "" && r.Endpoint != "any" && net.ParseIP(r.Endpoint) == nil {
			if _, _, err := net.ParseCIDR(r.Endpoint); err != nil {
				return fmt.Errorf("rule %s: invalid endpoint %q", r.RuleName, r.Endpoint)
			}
		}
		if !validBitrateUnit(r.BitrateUnit) {
			return fmt.Errorf("rule %s: unknown bitrate-unit %q", r.RuleName, r.BitrateUnit)
		}
		if r.Protocol == 6 || r.Protocol == 17 {
			start, end := r.StartPort, r.EndPort
			if !(start == 0 && (end == 0 || end == math.MaxUint16)) {
				if start < 0 || end > math.MaxUint16 || start > end {
					return fmt.Errorf("rule %s: invalid port range %d-%d", r.RuleName, start, end)
				}
				if end-start+1 > 100 {
					return fmt.Errorf("rule %s: port range %d-%d covers more than 100 ports", r.RuleName, start, end)
				}
			}
		}
	}
	return nil
}
