package sdcore

// The JSON SD-Core's configuration API takes. Structs, not maps, so the
// bytes are deterministic (field order is declaration order) and two renders
// of the same configuration are byte-equal: the controller's fingerprint.
//
// Field names and JSON tags follow omec-project/webconsole
// configmodels/model_device_groups.go, model_device_groups_ip_domain_expanded.go,
// model_device_groups_ip_domain_expanded_ue_dnn_qos.go, model_traffic_class.go,
// model_slice.go, model_slice_slice_id.go, model_slice_site_info.go,
// model_slice_site_info_plmn.go, model_slice_site_info_g_node_bs.go and
// model_application_filtering_rules.go, and the shapes Aether's
// sdcore-adapter sends (onosproject/sdcore-adapter pkg/synchronizer/schema.go,
// synchronize-device-group.go, synchronize-slice.go, synchronize-upf.go).
// The UPF body follows omec-project/upf pfcpiface/web_service.go
// (NetworkSlice, SliceQos, UeResInfo); its decoder (encoding/json) matches
// keys case-insensitively, so Aether's "uplinkMBR" reaches its "uplinkMbr".
// Upstream heads read: webconsole b6b6542, upf 049a2ce (docs/sdcore.md).

// trafficClass is webconsole's TrafficClassInfo.
type trafficClass struct {
	Name string `json:"name"`
	QCI  uint64 `json:"qci"`
	ARP  uint64 `json:"arp"`
	PDB  uint64 `json:"pdb"`
	PELR int64  `json:"pelr"`
}

// ueDnnQos is webconsole's DeviceGroupsIpDomainExpandedUeDnnQos.
type ueDnnQos struct {
	Uplink       uint64        `json:"dnn-mbr-uplink"`
	Downlink     uint64        `json:"dnn-mbr-downlink"`
	BitrateUnit  string        `json:"bitrate-unit"`
	TrafficClass *trafficClass `json:"traffic-class,omitempty"`
}

// ipDomain is webconsole's DeviceGroupsIpDomainExpanded.
type ipDomain struct {
	DNN          string    `json:"dnn"`
	UEIPPool     string    `json:"ue-ip-pool"`
	DNSPrimary   string    `json:"dns-primary"`
	DNSSecondary string    `json:"dns-secondary,omitempty"`
	MTU          uint64    `json:"mtu"`
	QoS          *ueDnnQos `json:"ue-dnn-qos,omitempty"`
}

// deviceGroupLegacy is webconsole's DeviceGroups before v2.1.1 (commit
// 7f760df, multiple DNN): one IP domain in "ip-domain-expanded" (what
// Aether's sdcore-adapter sends).
type deviceGroupLegacy struct {
	IMSIs        []string `json:"imsis"`
	IPDomainName string   `json:"ip-domain-name"`
	SiteInfo     string   `json:"site-info"`
	IPDomain     ipDomain `json:"ip-domain-expanded"`
}

// deviceGroupList is webconsole's DeviceGroups since v2.1.1
// (IpDomainsExpanded): a list of IP domains in "ip-domains". The default.
type deviceGroupList struct {
	IMSIs        []string   `json:"imsis"`
	IPDomainName string     `json:"ip-domain-name"`
	SiteInfo     string     `json:"site-info"`
	IPDomains    []ipDomain `json:"ip-domains"`
}

type sliceID struct {
	SST string `json:"sst"`
	SD  string `json:"sd"`
}

type plmn struct {
	MCC string `json:"mcc"`
	MNC string `json:"mnc"`
}

type gNodeB struct {
	Name string `json:"name"`
	TAC  uint64 `json:"tac"`
}

type upfRef struct {
	Name string `json:"upf-name"`
	Port uint64 `json:"upf-port"`
}

type siteInfo struct {
	SiteName string   `json:"site-name"`
	PLMN     plmn     `json:"plmn"`
	GNodeBs  []gNodeB `json:"gNodeBs"`
	UPF      *upfRef  `json:"upf,omitempty"`
}

// filterRule is webconsole's SliceApplicationFilteringRules. Ports and
// protocol are pointers so the default-behavior rules carry none.
type filterRule struct {
	Name          string        `json:"rule-name"`
	Priority      uint64        `json:"priority"`
	Action        string        `json:"action"`
	Endpoint      string        `json:"endpoint"`
	DestPortStart *uint64       `json:"dest-port-start,omitempty"`
	DestPortEnd   *uint64       `json:"dest-port-end,omitempty"`
	Protocol      *uint64       `json:"protocol,omitempty"`
	Uplink        uint64        `json:"app-mbr-uplink,omitempty"`
	Downlink      uint64        `json:"app-mbr-downlink,omitempty"`
	BitrateUnit   string        `json:"bitrate-unit,omitempty"`
	TrafficClass  *trafficClass `json:"traffic-class,omitempty"`
}

// networkSlice is webconsole's Slice as Aether fills it.
type networkSlice struct {
	SliceID         sliceID      `json:"slice-id"`
	SiteDeviceGroup []string     `json:"site-device-group"`
	SiteInfo        siteInfo     `json:"site-info"`
	Rules           []filterRule `json:"application-filtering-rules"`
}

// upfSliceQos is the UPF's SliceQos.
type upfSliceQos struct {
	Uplink        uint64 `json:"uplinkMBR,omitempty"`
	Downlink      uint64 `json:"downlinkMBR,omitempty"`
	UplinkBurst   uint64 `json:"uplinkBurstSize,omitempty"`
	DownlinkBurst uint64 `json:"downlinkBurstSize,omitempty"`
	BitrateUnit   string `json:"bitrateUnit,omitempty"`
}

type ueResourceInfo struct {
	Pool string `json:"uePoolId"`
	DNN  string `json:"dnn"`
}

// upfSlice is the UPF's NetworkSlice.
type upfSlice struct {
	SliceName      string           `json:"sliceName"`
	SliceQos       upfSliceQos      `json:"sliceQos"`
	UEResourceInfo []ueResourceInfo `json:"ueResourceInfo,omitempty"`
}
