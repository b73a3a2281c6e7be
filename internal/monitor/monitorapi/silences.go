package monitorapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/monitor"
	"github.com/amp-edge/amp/internal/schema"
)

// silenceRoutes list, create and expire an enterprise's silences. A
// silence made here always carries the matcher enterprise="<id>", so it
// can mute only the enterprise's own alerts; the enterprise sees and
// expires only silences carrying that matcher.
func silenceRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "GET /monitor/silences/{enterprise}", Name: "monitor-silences", Handler: listSilences},
		{Pattern: "POST /monitor/silences/{enterprise}", Name: "monitor-silences", Handler: createSilence},
		{Pattern: "DELETE /monitor/silences/{enterprise}/{id}", Name: "monitor-silences", Handler: expireSilence},
	}
}

// maxSilence bounds a silence's length: a forgotten silence must not mute
// an enterprise's alerts for ever.
const maxSilence = 30 * 24 * time.Hour

func silencesPath(ent string) string { return "/monitor/silences/" + schema.EscapeSegment(ent) }

// authorize asks the policy for the action on the enterprise's monitor
// configuration (the newest monitor set's root of that enterprise): who
// may write the enterprise's alerting may silence it. Another enterprise
// answers as a missing one does.
func authorize(h compat.Host, r *http.Request, action auth.Action) (ent string, am monitor.Silences, err error) {
	if ent, err = enterprise(h, r, action, silencesPath); err != nil {
		return "", am, err
	}
	url := monitor.AlertmanagerURL()
	if url == "" {
		return "", am, schema.Errorf(schema.KindUnavailable, silencesPath(ent), "this AMP has no Alertmanager (amp serve --alertmanager-url)")
	}
	return ent, monitor.Silences{URL: url}, nil
}

func listSilences(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ent, am, err := authorize(h, r, auth.Read)
	if err != nil {
		return err
	}
	all, err := am.List(r.Context())
	if err != nil {
		return schema.Errorf(schema.KindUnavailable, silencesPath(ent), "%v", err)
	}
	out := []monitor.Silence{}
	for _, s := range all {
		if s.Of(ent) {
			out = append(out, s)
		}
	}
	return h.WriteJSON(w, http.StatusOK, out)
}

// silenceRequest is what a client sends: Alertmanager's silence, with
// an optional duration instead of endsAt.
type silenceRequest struct {
	Matchers []monitor.SilenceMatcher `json:"matchers"`
	StartsAt *time.Time               `json:"startsAt"`
	EndsAt   *time.Time               `json:"endsAt"`
	Duration string                   `json:"duration"`
	Comment  string                   `json:"comment"`
}

func createSilence(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ent, am, err := authorize(h, r, auth.Write)
	if err != nil {
		return err
	}
	body, dry, err := h.ReadObject(r, `{"matchers": [{"name": "alertname", "value": "…", "isRegex": false}], "duration": "2h", "comment": "…"}`)
	if err != nil {
		return err
	}
	if dry {
		return schema.Errorf(schema.KindInvalid, "?dry-run", "a silence has nothing to preview")
	}
	raw, _ := json.Marshal(body)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req silenceRequest
	if err := dec.Decode(&req); err != nil {
		return schema.Errorf(schema.KindInvalid, "/", "%v", err)
	}
	sil, err := silenceOf(req, ent, time.Now())
	if err != nil {
		return err
	}
	if p := auth.FromContext(r.Context()); p != nil {
		sil.CreatedBy = p.Name
	}
	h.Touch(r, silencesPath(ent))
	id, err := am.Create(r.Context(), sil)
	if err != nil {
		return schema.Errorf(schema.KindUnavailable, silencesPath(ent), "%v", err)
	}
	h.Touch(r, silencesPath(ent)+"/"+schema.EscapeSegment(id))
	sil.ID = id
	return h.WriteJSON(w, http.StatusCreated, sil)
}

// silenceOf checks a request and makes the enterprise's silence of it.
func silenceOf(req silenceRequest, ent string, now time.Time) (monitor.Silence, error) {
	sil := monitor.Silence{Comment: req.Comment, StartsAt: now}
	if req.Comment == "" {
		return sil, schema.Errorf(schema.KindInvalid, "/comment", "say why the alerts are silenced")
	}
	for i, m := range req.Matchers {
		at := "/matchers/" + strconv.Itoa(i)
		if !model.LabelName(m.Name).IsValidLegacy() {
			return sil, schema.Errorf(schema.KindInvalid, at+"/name", "%q is not a label name", m.Name)
		}
		if m.Name == monitor.TenantLabel {
			return sil, schema.Errorf(schema.KindInvalid, at+"/name", "the %s matcher is set by AMP to %q", monitor.TenantLabel, ent)
		}
		sil.Matchers = append(sil.Matchers, m)
	}
	yes := true
	sil.Matchers = append(sil.Matchers, monitor.SilenceMatcher{Name: monitor.TenantLabel, Value: ent, IsEqual: &yes})
	if req.StartsAt != nil {
		sil.StartsAt = *req.StartsAt
	}
	switch {
	case req.EndsAt != nil && req.Duration != "":
		return sil, schema.Errorf(schema.KindInvalid, "/duration", "send endsAt or duration, not both")
	case req.EndsAt != nil:
		sil.EndsAt = *req.EndsAt
	case req.Duration != "":
		d, err := model.ParseDuration(req.Duration)
		if err != nil {
			return sil, schema.Errorf(schema.KindInvalid, "/duration", "not a duration: %v", err)
		}
		sil.EndsAt = sil.StartsAt.Add(time.Duration(d))
	default:
		return sil, schema.Errorf(schema.KindInvalid, "/duration", "send endsAt or duration (e.g. 2h)")
	}
	if !sil.EndsAt.After(sil.StartsAt) || !sil.EndsAt.After(now) {
		return sil, schema.Errorf(schema.KindInvalid, "/endsAt", "the silence must end after it starts and in the future")
	}
	if sil.EndsAt.Sub(now) > maxSilence {
		return sil, schema.Errorf(schema.KindInvalid, "/endsAt", "a silence lasts at most %s", maxSilence)
	}
	return sil, nil
}

func expireSilence(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ent, am, err := authorize(h, r, auth.Write)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	path := silencesPath(ent) + "/" + schema.EscapeSegment(id)
	h.Touch(r, path)
	sil, err := am.Get(r.Context(), id)
	if errors.Is(err, monitor.ErrNoSilence) || err == nil && !sil.Of(ent) {
		return schema.Errorf(schema.KindNotFound, path, "no silence %q", id)
	}
	if err != nil {
		return schema.Errorf(schema.KindUnavailable, path, "%v", err)
	}
	if err := am.Expire(r.Context(), id); err != nil {
		return schema.Errorf(schema.KindUnavailable, path, "%v", err)
	}
	return h.WriteJSON(w, http.StatusOK, map[string]string{"expired": id})
}
