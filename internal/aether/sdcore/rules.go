package sdcore

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/amp-edge/amp/internal/config"
)

// The rules of SD-Core's configuration API that the aether model does not
// state. They run twice, from one place: at commit time (Check, registered
// with the engine, so a transaction the core would refuse is refused with
// the path and the core's rule) and at render time (for data committed
// before a rule existed, which then shows as the object's error).

// namePattern is webconsole's NAME_PATTERN (configapi/validators.go,
// isValidName): device-group and network-slice names in the URL, and
// gNodeB names in a slice (configapi/slice_helpers.go,
// parseAndValidateSliceRequest).
const namePattern = `^[a-zA-Z][a-zA-Z0-9-_]{1,255}$`

var nameRE = regexp.MustCompile(namePattern)

// nameRule says why webconsole refuses name, or "".
func nameRule(what, name string) string {
	if nameRE.MatchString(name) {
		return ""
	}
	return fmt.Sprintf("%s %q is refused by SD-Core: webconsole requires %s (configapi/validators.go NAME_PATTERN; at least two characters)", what, name, namePattern)
}

// gNodeBName is the webconsole gNodeB name of a small cell: its address
// when that is a valid name, else the address with every character
// webconsole does not allow (the dots of a host name, the colons of an
// IPv6 address) turned into "-", prefixed with "gnb-" when it would not
// start with a letter or be too short:
//
//	ap1                       -> ap1
//	gnb1.acme-chicago.local   -> gnb1-acme-chicago-local
//	10.0.0.7                  -> gnb-10-0-0-7
//
// It is deterministic, so the same small cell always has the same name.
func gNodeBName(address string) string {
	if nameRE.MatchString(address) {
		return address
	}
	var b strings.Builder
	for _, r := range address {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	n := b.String()
	if len(n) < 2 || !(n[0] >= 'a' && n[0] <= 'z' || n[0] >= 'A' && n[0] <= 'Z') {
		n = "gnb-" + n
	}
	return n
}

// bitrateRule says why a bit rate is more than webconsole's field can
// hold, or "": device-group dnn-mbr-* are int64
// (configmodels/model_device_groups_ip_domain_expanded_ue_dnn_qos.go),
// application app-mbr-* int32 (model_application_filtering_rules.go); a
// larger number fails webconsole's JSON binding.
func bitrateRule(bps uint64, max uint64, field string) string {
	if bps <= max {
		return ""
	}
	return fmt.Sprintf("%d bps is refused by SD-Core: webconsole's %s holds at most %d", bps, field, max)
}

// Check implements config.Check: the rules above, on the objects the
// adapter renders from. Register it with Engine.AddCheck.
func (a *Adapter) Check(o *config.Object, report func(inner []string, reason string)) {
	n := o.Node
	if n.Set == nil || n.Set.Name != modelSet || n.Set.Version != modelVersion || n.Parent == nil {
		return
	}
	switch n.Parent.Name + "/" + n.Name {
	case "site/device-group":
		if why := nameRule("device-group-id", str(o.Data, "device-group-id")); why != "" {
			report([]string{"device-group-id"}, why)
		}
		for _, dir := range []string{"uplink", "downlink"} {
			if why := bitrateRule(u64Def(sub(o.Data, "mbr"), dir, 0), math.MaxInt64, "dnn-mbr-"+dir); why != "" {
				report([]string{"mbr", dir}, why)
			}
		}
	case "site/slice":
		if why := nameRule("slice-id", str(o.Data, "slice-id")); why != "" {
			report([]string{"slice-id"}, why)
		}
	case "site/small-cell":
		if addr := str(o.Data, "address"); addr != "" {
			if why := nameRule("gNodeB name", gNodeBName(addr)); why != "" {
				report([]string{"address"}, why+" (the name derived from the address, see docs/sdcore.md)")
			}
		}
	case "application/endpoint":
		for _, dir := range []string{"uplink", "downlink"} {
			if why := bitrateRule(u64Def(sub(o.Data, "mbr"), dir, 0), math.MaxInt32, "app-mbr-"+dir); why != "" {
				report([]string{"mbr", dir}, why)
			}
		}
	}
}
