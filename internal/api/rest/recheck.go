package rest

import (
	"errors"
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
	if err := s.opts.Authorizer.Authorize(r.Context(), p, auth.Read, "/transactions"); err != nil {
		s.metrics.streamsEnded.WithLabelValues("right").Inc()
		s.log.InfoContext(r.Context(), "stream ended: right withdrawn", "route", r.URL.Path, "principal", p.Name)
		return r, &schema.Error{Kind: schema.KindForbidden, Message: "forbidden",
			Problems: []schema.Problem{{Path: r.URL.Path, Reason: "the right to watch was withdrawn: " + err.Error()}}}
	}
	return r, nil
}

// seesAllHistory reports whether the caller may see every transaction (an
// operator), and so the global transaction index. Tenants are given no
// index they could not read in their own history: it would tell how busy
// the other tenants are.
func (s *Server) seesAllHistory(r *http.Request) bool { return s.canSeeTargets(r, nil) }

// hideIndex answers a history lookup that failed: operators get the
// engine's error (which may name the newest index); a tenant gets the
// same kind of error without it.
func (s *Server) hideIndex(r *http.Request, err error, path, format string, args ...any) error {
	if s.seesAllHistory(r) {
		return err
	}
	var se *schema.Error
	if !errors.As(err, &se) {
		return err
	}
	return schema.Errorf(se.Kind, path, format, args...)
}
