package sdcore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The request bodies, with the Go types and JSON tags of
// omec-project/webconsole's configmodels at b6b6542 (model_device_groups.go,
// model_device_groups_ip_domain_expanded.go,
// model_device_groups_ip_domain_expanded_ue_dnn_qos.go,
// model_traffic_class.go, model_slice.go, model_slice_slice_id.go,
// model_slice_site_info.go, model_slice_site_info_plmn.go,
// model_slice_site_info_g_node_bs.go, model_application_filtering_rules.go)
// and omec-project/upf's pfcpiface/web_service.go (NetworkSlice). The
// types matter: an int32 field refuses a number beyond 2147483647, an int64
// one beyond 9223372036854775807, a string field refuses a number; unknown
// keys are ignored (gin's ShouldBindJSON, encoding/json), so their data is
// dropped while the answer is 200.

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
	PcscfPrimary string    `json:"pcscf-primary,omitempty"`
	DnsSecondary string    `json:"dns-secondary,omitempty"`
	Mtu          int32     `json:"mtu,omitempty"`
	UeDnnQos     *ueDnnQos `json:"ue-dnn-qos,omitempty"`
}

// deviceGroups is configmodels.DeviceGroups since webconsole v2.1.1 (commit
// 7f760df, "Multiple dnn support"): a list of IP domains in "ip-domains".
type deviceGroups struct {
	DeviceGroupName   string             `json:"group-name"`
	Imsis             []string           `json:"imsis"`
	Msisdns           []string           `json:"msisdns,omitempty"`
	SiteInfo          string             `json:"site-info,omitempty"`
	IpDomainName      string             `json:"ip-domain-name,omitempty"`
	IpDomainsExpanded []ipDomainExpanded `json:"ip-domains,omitempty"`
}

// deviceGroupsLegacy is configmodels.DeviceGroups before v2.1.1 (7f760df^):
// one IP domain in "ip-domain-expanded".
type deviceGroupsLegacy struct {
	DeviceGroupName  string           `json:"group-name"`
	Imsis            []string         `json:"imsis"`
	SiteInfo         string           `json:"site-info,omitempty"`
	IpDomainName     string           `json:"ip-domain-name,omitempty"`
	IpDomainExpanded ipDomainExpanded `json:"ip-domain-expanded,omitempty"`
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
	SliceName                 string                           `json:"slice-name,omitempty"`
	SliceId                   sliceSliceID                     `json:"slice-id,omitempty"`
	SiteDeviceGroup           []string                         `json:"site-device-group"`
	SiteInfo                  sliceSiteInfo                    `json:"site-info,omitempty"`
	ApplicationFilteringRules []sliceApplicationFilteringRules `json:"application-filtering-rules,omitempty"`
}

// upfNetworkSlice is pfcpiface's NetworkSlice (web_service.go). Its
// decoder (json.Unmarshal) matches keys case-insensitively, so Aether's
// "uplinkMBR" fills UplinkMbr.
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

// namePattern is webconsole's NAME_PATTERN (configapi/validators.go,
// isValidName).
var namePattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-_]{1,255}$`)

// bind decodes like gin's ShouldBindJSON (binding.JSON: encoding/json,
// unknown keys ignored, wrong types and overflows refused).
func bind(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("JSON bind error: %w", err)
	}
	return nil
}

// contentType is the media type of a Content-Type header, as configapi
// reads it (strings.Split(ct, ";")[0], no trimming).
func contentType(h string) string { return strings.Split(h, ";")[0] }

// convertToBps is configapi/device_group_helpers.go convertToBps.
func convertToBps(val int64, unit string) int64 {
	switch strings.ToLower(unit) {
	case "kbps":
		return val * 1000
	case "mbps":
		return val * 1000000
	case "gbps":
		return val * 1000000000
	}
	return val // "bps" and unknown units
}

// deviceGroupPost binds a device group in the form this webconsole has and
// normalizes it as configapi's deviceGroupPostHelper
// (device_group_helpers.go) does: bit rates converted to bps, a negative
// result (an overflow) made MaxInt64. It returns what webconsole stores.
func deviceGroupPost(name string, body []byte, legacy bool) ([]byte, error) {
	if legacy {
		var dg deviceGroupsLegacy
		if err := bind(body, &dg); err != nil {
			return nil, err
		}
		normalizeQos(dg.IpDomainExpanded.UeDnnQos)
		dg.DeviceGroupName = name
		return json.Marshal(dg)
	}
	var dg deviceGroups
	if err := bind(body, &dg); err != nil {
		return nil, err
	}
	for i := range dg.IpDomainsExpanded {
		normalizeQos(dg.IpDomainsExpanded[i].UeDnnQos)
	}
	dg.DeviceGroupName = name
	return json.Marshal(dg)
}

func normalizeQos(q *ueDnnQos) {
	if q == nil {
		return
	}
	if q.DnnMbrDownlink = convertToBps(q.DnnMbrDownlink, q.BitrateUnit); q.DnnMbrDownlink < 0 {
		q.DnnMbrDownlink = math.MaxInt64
	}
	if q.DnnMbrUplink = convertToBps(q.DnnMbrUplink, q.BitrateUnit); q.DnnMbrUplink < 0 {
		q.DnnMbrUplink = math.MaxInt64
	}
}

// slicePost applies configapi/slice_helpers.go networkSlicePostHelper:
// parseAndValidateSliceRequest (the content type, the bind, every gNodeB
// name against NAME_PATTERN and TAC in 1..16777215 (isValidGnbTac), a
// traffic class on every rule, site-device-group sorted and compacted),
// then normalizeApplicationFilteringRules (app MBRs to bps, clamped to
// int32). It returns what webconsole stores, and the error of
// syncSubscribersOnSliceCreateOrUpdate, which runs after the store: an
// SST that is missing or not decimal is refused with 400 with the slice
// already stored.
func slicePost(name, ctype string, body []byte) (stored []byte, afterStore, err error) {
	var s slice
	if ct := contentType(ctype); ct != "application/json" {
		return nil, nil, fmt.Errorf("unsupported content-type: %s", ct)
	}
	if err := bind(body, &s); err != nil {
		return nil, nil, err
	}
	for _, g := range s.SiteInfo.GNodeBs {
		if !namePattern.MatchString(g.Name) {
			return nil, nil, fmt.Errorf("invalid gNB name `%s` in Network Slice %s", g.Name, name)
		}
		if g.Tac < 1 || g.Tac > 16777215 {
			return nil, nil, fmt.Errorf("invalid TAC %d for gNB %s in Network Slice %s", g.Tac, g.Name, name)
		}
	}
	for _, r := range s.ApplicationFilteringRules {
		if r.TrafficClass == nil {
			return nil, nil, errors.New("TrafficClass (QCI, ARP) required but not provided, network slice NOT configured in the network")
		}
	}
	slices.Sort(s.SiteDeviceGroup)
	s.SiteDeviceGroup = slices.Compact(s.SiteDeviceGroup)
	for i := range s.ApplicationFilteringRules {
		r := &s.ApplicationFilteringRules[i]
		r.AppMbrUplink = clampInt32(convertToBps(int64(r.AppMbrUplink), r.BitrateUnit))
		r.AppMbrDownlink = clampInt32(convertToBps(int64(r.AppMbrDownlink), r.BitrateUnit))
	}
	s.SliceName = name
	stored, err = json.Marshal(s)
	if err != nil {
		return nil, nil, err
	}
	if s.SliceId.Sst == "" {
		return stored, fmt.Errorf("missing SST in slice %s", name), nil
	}
	if _, err := strconv.ParseUint(s.SliceId.Sst, 10, 32); err != nil {
		return stored, err, nil
	}
	return stored, nil, nil
}

// clampInt32 is configapi's convertBitrateToInt32.
func clampInt32(v int64) int32 {
	if v < 0 || v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(v)
}
