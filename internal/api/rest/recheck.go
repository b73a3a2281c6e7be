package rest

import (
	"net/http"
	"time"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
)

// watchRecheckEvery is how often an idle /watch stream checks that its
// caller still holds a valid credential and the right to watch; a stream
// with events checks before each one.
const watchRecheckEvery = 15 * time.Second

// recheck authenticates a long-lived request again and asks the policy
// again, returning the request with the principal as it is now: a revoked
// API token, an expired JWT, a changed policy or changed groups take
// effect on open streams, not only on new requests. An API token costs a
// map lookup and a SHA-256, a JWT one signature check.
func (s *Server) recheck(r *http.Request) (*http.Request, error) {
	p, err := s.opts.Auth.Authenticate(r)
	if err != nil {
		s.metrics.streamsEnded.WithLabelValues("credential").Inc()
		s.log.InfoContext(r.Context(), "stream ended: credential no longer valid", "route", r.URL.Path, "principal", principalName(r.Context()))
		return r, &schema.Error{Kind: schema.KindUnauthenticated, Message: "authentication required",
			Problems: []schema.Problem{{Path: r.URL.Path, Reason: "the stream's credential is no longer valid: " + err.Error()}}}
	}
	r = r.WithContext(auth.WithPrincipal(r.Context(), p))
	if err := s.check(r.Context(), p, auth.Read, "/transactions"); err != nil {
		if auth.RefusalOf(err) == auth.Failed {
			s.log.ErrorContext(r.Context(), "authorization failed", "error", err, "route", r.URL.Path, "principal", p.Name)
			return r, authzFailure(r.URL.Path)
		}
		s.metrics.streamsEnded.WithLabelValues("right").Inc()
		s.log.InfoContext(r.Context(), "stream ended: right withdrawn", "route", r.URL.Path, "principal", p.Name)
		return r, &schema.Error{Kind: schema.KindForbidden, Message: "forbidden",
			Problems: []schema.Problem{{Path: r.URL.Path, Reason: "the right to watch was withdrawn: " + err.Error()}}}
	}
	return r, nil
}
