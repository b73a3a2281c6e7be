package wire

import (
	"encoding/json"
	"strings"
)

// Site queries: metrics stay in each site's Prometheus and only query
// results travel to AMP (docs/monitoring.md, "Site queries"). AMP never
// dials a site: a query for a site is queued for the cluster's agent, and
// the agent's parked desired-state poll is answered at once (304, with
// QueriesHeader) so that the agent takes the queries, runs them against
// its site's Prometheus and posts each answer back:
//
//	GET  /edge/v1/clusters/{cluster}/queries        → 200 SiteQueries (taken: each is handed out once)
//	POST /edge/v1/clusters/{cluster}/queries/{id}   SiteAnswer → 204
//
// AMP restricts a query to the caller's series before it is queued: the
// agent runs it as it is, against the APIs named here only.
const QueriesHeader = "Amp-Site-Queries"

// The Prometheus APIs a site query may name (SiteQuery.API), and
// LabelValuesAPI's.
const (
	APIQuery      = "/api/v1/query"
	APIQueryRange = "/api/v1/query_range"
	APISeries     = "/api/v1/series"
	APILabels     = "/api/v1/labels"
)

// LabelValuesAPI is the API of label name's values (name path-escaped
// already); Prometheus takes it by GET only.
func LabelValuesAPI(name string) string { return "/api/v1/label/" + name + "/values" }

// IsLabelValuesAPI says whether api is LabelValuesAPI of one label: one
// path segment, not a relative one.
func IsLabelValuesAPI(api string) bool {
	name, ok := strings.CutPrefix(api, "/api/v1/label/")
	if !ok {
		return false
	}
	name, ok = strings.CutSuffix(name, "/values")
	return ok && name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/?#\\")
}

// MaxSiteAnswer bounds the Prometheus answer an agent posts back (bytes).
const MaxSiteAnswer = 16 << 20

// SiteQuery is one query for the site's Prometheus.
type SiteQuery struct {
	ID string `json:"id"`
	// API is one of the APIs above: a query, a range query or a lookup.
	API string `json:"api"`
	// Form holds Prometheus's parameters, form-encoded (query, time or
	// start, end and step, timeout; a lookup's match[], start, end,
	// limit).
	Form string `json:"form"`
}

// SiteQueries are the queries queued for a cluster, oldest first.
type SiteQueries struct {
	Queries []SiteQuery `json:"queries"`
}

// SiteAnswer is what the site's Prometheus answered to a SiteQuery:
// its status and JSON body as they are, or, when it could not be asked,
// Status 0 and the reason.
type SiteAnswer struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body,omitempty"`
	Error  string          `json:"error,omitempty"`
}
