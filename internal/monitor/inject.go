package monitor

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// TenantLabel is the label every series of an enterprise carries (the
// edge probes' amp_edge_probe_ok{enterprise=…}, a site's Prometheus
// external label) and every alert of its rules is given.
const TenantLabel = "enterprise"

// SiteLabel is the label naming a series' site (the edge probes').
const SiteLabel = "site"

// promQL is Prometheus's PromQL parser with its default (stable) features.
var promQL = parser.NewParser(parser.Options{})

// Restrict parses a PromQL expression and returns it with every selector
// restricted to the enterprise's series: enterprise="<tenant>" is added to
// each vector selector (also inside subqueries, range selectors and
// function arguments), so a rule can only see its own enterprise's data.
// A selector that already names the enterprise label with anything but an
// equality to the tenant is refused rather than overwritten, so a rule
// never reads differently from what its author wrote. The error is the
// parser's reason or the refusal.
//
// With sites, site=~"<a>|<b>" (the ids quoted as regular expressions) is
// added too; a selector's own site matcher stays beside it, so both hold.
func Restrict(expr, tenant string, sites ...string) (string, error) {
	ast, err := promQL.ParseExpr(expr)
	if err != nil {
		return "", err
	}
	var refused error
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok || refused != nil {
			return nil
		}
		var kept []*labels.Matcher
		for _, m := range vs.LabelMatchers {
			if m.Name != TenantLabel {
				kept = append(kept, m)
			} else if m.Type != labels.MatchEqual || m.Value != tenant {
				refused = fmt.Errorf("selector %s: the %s label is set by AMP to %q (a rule sees only its enterprise's series)", vs.String(), TenantLabel, tenant)
				return nil
			}
		}
		kept = append(kept, labels.MustNewMatcher(labels.MatchEqual, TenantLabel, tenant))
		if len(sites) > 0 {
			quoted := make([]string, len(sites))
			for i, s := range sites {
				quoted[i] = regexp.QuoteMeta(s)
			}
			kept = append(kept, labels.MustNewMatcher(labels.MatchRegexp, SiteLabel, strings.Join(quoted, "|")))
		}
		vs.LabelMatchers = kept
		return nil
	})
	if refused != nil {
		return "", refused
	}
	return ast.String(), nil
}
