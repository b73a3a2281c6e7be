package monitorapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/edge"
	"github.com/amp-edge/amp/internal/edge/probes"
	"github.com/amp-edge/amp/internal/monitor"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/telemetry/logship"
)

// Logs (docs/logging.md): the agents' log pushes, which AMP relays to the
// log store (--log-push-url) with the cluster's labels, and GET /logs,
// the LogQL subset over the store (--log-query-url, VictoriaLogs),
// answered in Loki's query_range shape. An enterprise's caller sees its
// own sites' streams only: the query is given enterprise="<its id>", and
// a matcher naming the enterprise otherwise is refused.

// logsPath is what the policy is asked about for a query over every
// stream (the default policy: operators only).
const logsPath = "/logs"

// Bounds of GET /logs.
const (
	defaultLogRange = time.Hour
	maxLogRange     = 24 * time.Hour
	defaultLogLimit = 100
	maxLogLimit     = 5000
	logQueryTimeout = 30 * time.Second
)

func logRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /logs", Name: "logs", Handler: queryLogs},
		{Pattern: "POST /edge/v1/clusters/{cluster}/logs", Name: "edge-logs", Handler: relayLogs},
	}
}

// relayLogs serves POST /edge/v1/clusters/{cluster}/logs: a Loki push
// body from the cluster's agent whose streams carry a component label
// only; AMP adds cluster, site and enterprise from the inventory (an
// agent cannot name them) and pushes it on. 503 while there is no store
// or it does not take it: the agent keeps the batch and resends it.
func relayLogs(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("cluster")
	path := edge.LinkPath(id) + "/logs"
	if err := h.Authorize(r, auth.Write, path); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, logship.MaxPushBody+1))
	if err != nil {
		return err
	}
	if len(body) > logship.MaxPushBody {
		return schema.Errorf(schema.KindTooLarge, "/", "a log push of more than %d bytes", logship.MaxPushBody)
	}
	p, err := logship.DecodePush(body, map[string]bool{"component": true})
	if err != nil {
		return schema.Errorf(schema.KindInvalid, "/", "%v", err)
	}
	site, ent, ok := probes.Placement(h.Schema(), h.Engine().Snapshot(), id)
	if !ok {
		return schema.Errorf(schema.KindNotFound, path, "no cluster %q is declared", id)
	}
	for i := range p.Streams {
		l := p.Streams[i].Labels
		if l == nil {
			l = map[string]string{}
			p.Streams[i].Labels = l
		}
		l["cluster"] = id
		if site != "" {
			l["site"] = site
		}
		if ent != "" {
			l[monitor.TenantLabel] = ent
		}
	}
	push := monitor.LogPushURL()
	if push == "" {
		return schema.Errorf(schema.KindUnavailable, path, "this AMP has no log store (amp serve --log-push-url); the agent keeps its logs and resends them")
	}
	out, _ := json.Marshal(p) // strings and maps only
	ctx, cancel := context.WithTimeout(r.Context(), logQueryTimeout)
	defer cancel()
	if err := logship.HTTPSink(push, nil)(ctx, out); err != nil {
		slog.WarnContext(ctx, "the log store did not take an agent's logs", "component", "logs", "cluster", id, "error", err)
		return schema.Errorf(schema.KindUnavailable, path, "the log store did not take the logs; resend them later")
	}
	return h.WriteJSON(w, http.StatusOK, map[string]int{"accepted": p.Lines()})
}

// queryLogs serves GET /logs?query=&start=&end=&limit=&enterprise=.
func queryLogs(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ctx, span := tracer.Start(r.Context(), "logs.query")
	defer span.End()
	if err := r.ParseForm(); err != nil {
		return schema.Errorf(schema.KindInvalid, "?", "the parameters do not parse: %v", err)
	}
	tenant, err := queryScope(h, r, logsPath, "logs")
	if err != nil {
		return err
	}
	q, err := monitor.ParseLogQuery(r.Form.Get("query"))
	if err != nil {
		return schema.Errorf(schema.KindInvalid, "?query", "%v", err)
	}
	if tenant != "" {
		if err := q.Restrict(tenant); err != nil {
			return schema.Errorf(schema.KindForbidden, "?query", "%v", err)
		}
	}
	if why := q.Bounded(); why != "" {
		return schema.Errorf(schema.KindInvalid, "?query", "%s", why)
	}
	start, end, err := logRange(r.Form.Get("start"), r.Form.Get("end"), time.Now())
	if err != nil {
		return err
	}
	limit := defaultLogLimit
	if v := r.Form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLogLimit {
			return schema.Errorf(schema.KindInvalid, "?limit", "%q is not a number from 1 to %d", v, maxLogLimit)
		}
		limit = n
	}
	store := monitor.LogQueryURL()
	if store == "" {
		return schema.Errorf(schema.KindUnavailable, logsPath, "this AMP has no log store to query (amp serve --log-query-url)")
	}
	form := url.Values{"query": {q.LogsQL()}, "start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(limit)}}
	ctx, cancel := context.WithTimeout(ctx, logQueryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, store+"/select/logsql/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := upstream.Do(req)
	if err != nil {
		slog.WarnContext(ctx, "the log store did not answer a query", "component", "logs", "error", err)
		return schema.Errorf(schema.KindUnavailable, logsPath, "the log store did not answer; try again later")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		slog.WarnContext(ctx, "the log store refused a query", "component", "logs", "status", resp.StatusCode, "logsql", form.Get("query"), "answer", string(msg))
		return schema.Errorf(schema.KindUnavailable, logsPath, "the log store refused the query (%d)", resp.StatusCode)
	}
	result, err := lokiStreams(resp.Body, limit)
	if err != nil {
		return schema.Errorf(schema.KindUnavailable, logsPath, "the log store's answer: %v", err)
	}
	return h.WriteJSON(w, http.StatusOK, map[string]any{"status": "success", "data": map[string]any{"resultType": "streams", "result": result}})
}

// logRange reads start and end (Unix nanoseconds as Loki takes them, Unix
// seconds, or RFC 3339): end defaults to now, start to an hour before
// end; a range over maxLogRange is refused.
func logRange(startS, endS string, now time.Time) (time.Time, time.Time, error) {
	end := now
	if endS != "" {
		t, err := parseLogTime(endS)
		if err != nil {
			return time.Time{}, time.Time{}, schema.Errorf(schema.KindInvalid, "?end", "%v", err)
		}
		end = t
	}
	start := end.Add(-defaultLogRange)
	if startS != "" {
		t, err := parseLogTime(startS)
		if err != nil {
			return time.Time{}, time.Time{}, schema.Errorf(schema.KindInvalid, "?start", "%v", err)
		}
		start = t
	}
	switch {
	case !start.Before(end):
		return time.Time{}, time.Time{}, schema.Errorf(schema.KindInvalid, "?start", "start %s is not before end %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	case end.Sub(start) > maxLogRange:
		return time.Time{}, time.Time{}, schema.Errorf(schema.KindInvalid, "?start", "a range of %s: at most %s per query", end.Sub(start).Round(time.Second), maxLogRange)
	}
	return start, end, nil
}

func parseLogTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e12 { // nanoseconds, as Loki's API takes them
			return time.Unix(0, n), nil
		}
		return time.Unix(n, 0), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(f*1e9)), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not Unix nanoseconds or seconds, or RFC 3339", s)
}

// lokiStream is one stream of Loki's answer.
type lokiStream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// lokiStreams turns VictoriaLogs's answer (one JSON object a line) into
// Loki's streams, newest line first, at most limit lines.
func lokiStreams(body io.Reader, limit int) ([]lokiStream, error) {
	type row struct {
		ns     int64
		labels map[string]string
		line   string
	}
	var rows []row
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 2*logship.MaxLineBytes)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, m["_time"])
		if err != nil {
			return nil, fmt.Errorf("_time %q: %w", m["_time"], err)
		}
		labels := map[string]string{}
		for k := range monitor.LogLabels {
			if v, ok := m[k]; ok {
				labels[k] = v
			}
		}
		rows = append(rows, row{t.UnixNano(), labels, m["_msg"]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].ns > rows[j].ns })
	if len(rows) > limit {
		rows = rows[:limit]
	}
	var out []lokiStream
	at := map[string]int{}
	for _, r := range rows {
		k := logship.LabelKey(r.labels)
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, lokiStream{Stream: r.labels})
		}
		out[i].Values = append(out[i].Values, [2]string{strconv.FormatInt(r.ns, 10), r.line})
	}
	if out == nil {
		out = []lokiStream{}
	}
	return out, nil
}
