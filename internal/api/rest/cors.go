package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/schema"
)

// CORS lets a browser application served from another origin (a GUI in
// development, `ng serve` on http://localhost:4200) call the API, as
// --allowCorsOrigin did in the API AMP replaced. It is off unless origins are
// given, and only exact origins match: no wildcard, so a page from any
// other origin gets no CORS headers and its browser withholds the answers.
// Credentials are bearer tokens the application sets itself; no cookies
// are involved, so Access-Control-Allow-Credentials is never sent.

// corsAllowHeaders are the request headers an allowed origin may send.
const corsAllowHeaders = "Authorization, Content-Type, Accept, If-Match, X-AMP-Source, X-AMP-Message, Traceparent"

// corsExposeHeaders are the response headers its scripts may read.
const corsExposeHeaders = "ETag, Location, X-AMP-Index, X-AMP-Transaction-Index, X-AMP-Transaction-Id, X-AMP-Transaction-Unchanged, X-AMP-Continue, X-AMP-Sync"

// corsMaxAge lets a browser cache a preflight answer for ten minutes.
const corsMaxAge = "600"

type cors struct {
	origins map[string]bool
	refused prometheus.Counter
}

// CheckCORSOrigins validates --allow-cors-origin values: each must be an
// exact origin, scheme://host[:port] with http or https, nothing after.
func CheckCORSOrigins(origins []string) error {
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("--allow-cors-origin %q: want an exact origin such as https://gui.example.com or http://localhost:4200 (scheme, host, optional port; no path, no wildcard)", o)
		}
	}
	return nil
}

func newCORS(origins []string, reg *prometheus.Registry) *cors {
	c := &cors{origins: map[string]bool{}, refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "amp_http_cors_preflight_refused_total",
		Help: "CORS preflight requests refused: CORS is off, or the origin is not one of --allow-cors-origin.",
	})}
	for _, o := range origins {
		c.origins[strings.ToLower(o)] = true
	}
	if reg != nil {
		reg.MustRegister(c.refused)
	}
	return c
}

// handle answers a preflight (and reports true) or, for an allowed
// origin, adds the CORS headers to the coming answer.
func (c *cors) handle(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	allowed := c.origins[strings.ToLower(origin)]
	w.Header().Add("Vary", "Origin")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if !allowed {
			c.refused.Inc()
			reason := "CORS is off (amp serve --allow-cors-origin)"
			if len(c.origins) > 0 {
				reason = "origin " + origin + " is not allowed (amp serve --allow-cors-origin)"
			}
			writeProblem(w, r, &schema.Error{Kind: schema.KindForbidden, Message: "CORS preflight refused", Problems: []schema.Problem{{Path: "Origin", Reason: reason}}})
			return true
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", corsExposeHeaders)
	}
	return false
}
