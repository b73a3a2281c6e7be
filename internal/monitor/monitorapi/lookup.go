package monitorapi

import (
	"encoding/json"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// The lookups' combiners (merge): Grafana's query editor asks them of a
// data source, and with sites each lists what the central Prometheus and
// the sites' hold, as if one Prometheus held it all — deduplicated and
// sorted as Prometheus answers, a site's series labelled as a query's
// are (siteTarget.label).

// truncated is Prometheus's own warning when a lookup's limit cut it.
const truncated = "results truncated due to limit"

// seriesCombiner merges /api/v1/series answers: label sets.
type seriesCombiner struct {
	limit  int
	seen   map[string]bool
	series []labels.Labels
}

func (c *seriesCombiner) add(a sourceAnswer, data json.RawMessage) string {
	var ss []map[string]string
	if err := json.Unmarshal(data, &ss); err != nil {
		return "not a Prometheus answer"
	}
	for _, m := range ss {
		if a.site != nil {
			m = a.site.label(m)
		}
		ls := labels.FromMap(m)
		if k := ls.String(); !c.seen[k] {
			c.seen[k] = true
			c.series = append(c.series, ls)
		}
	}
	return ""
}

func (c *seriesCombiner) result() (json.RawMessage, []string) {
	slices.SortFunc(c.series, labels.Compare)
	var ws []string
	if c.limit > 0 && len(c.series) > c.limit {
		c.series, ws = c.series[:c.limit], []string{truncated}
	}
	out := make([]map[string]string, len(c.series))
	for i, ls := range c.series {
		out[i] = ls.Map()
	}
	b, _ := json.Marshal(out)
	return b, ws
}

// namesCombiner merges label names (/api/v1/labels) or one label's
// values (valuesOf): strings.
type namesCombiner struct {
	limit int
	seen  map[string]bool
	// siteLabels: the names a site's answer holding any adds (a lookup
	// of names: the labels AMP gives its series).
	siteLabels []string
	// valuesOf: the label whose values are merged; a site whose series
	// lack it (sourceAnswer.lacks) adds its own value when it is
	// cluster or site.
	valuesOf string
}

func (c *namesCombiner) add(a sourceAnswer, data json.RawMessage) string {
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return "not a Prometheus answer"
	}
	if a.site != nil && len(names) > 0 {
		names = append(names, c.siteLabels...)
	}
	if a.site != nil && a.lacks {
		names = append(names, a.site.label(map[string]string{})[c.valuesOf])
	}
	for _, n := range names {
		c.seen[n] = true
	}
	return ""
}

func (c *namesCombiner) result() (json.RawMessage, []string) {
	out := make([]string, 0, len(c.seen))
	for n := range c.seen {
		out = append(out, n)
	}
	slices.Sort(out)
	var ws []string
	if c.limit > 0 && len(out) > c.limit {
		out, ws = out[:c.limit], []string{truncated}
	}
	b, _ := json.Marshal(out)
	return b, ws
}
