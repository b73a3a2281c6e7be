package rest

import (
	"net/http"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
)

// maxWhoamiPaths bounds the paths one GET /whoami asks the policy about.
const maxWhoamiPaths = 50

// whoamiAnswer is GET /whoami: the caller as AMP authenticated it, and
// what the policy lets it do to each path it asked about.
type whoamiAnswer struct {
	Name   string       `json:"name"`
	Via    string       `json:"via"`
	Rights []auth.Right `json:"rights"`
	Access []access     `json:"access"`
}

type access struct {
	Path  string `json:"path"`
	Read  bool   `json:"read"`
	Write bool   `json:"write"`
}

// whoami serves GET /whoami[?path=P…]: who the caller is, and whether the
// policy lets it read and write each path, so that a client (the portal)
// shows edit controls only where a write would be allowed without
// attempting one. It tells callers about themselves only: the answers are
// the ones they would get by trying.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Read, "/whoami"); err != nil {
		return err
	}
	p := auth.FromContext(r.Context())
	paths := r.URL.Query()["path"]
	if len(paths) > maxWhoamiPaths {
		return schema.Errorf(schema.KindInvalid, "?path", "at most %d paths a request; %d given", maxWhoamiPaths, len(paths))
	}
	a := whoamiAnswer{Name: p.Name, Via: p.Via, Rights: auth.RightsOf(p), Access: make([]access, 0, len(paths))}
	if a.Rights == nil {
		a.Rights = []auth.Right{}
	}
	for i, path := range paths {
		if len(path) == 0 || path[0] != '/' {
			return schema.Errorf(schema.KindInvalid, "?path", "path %d (%q) is not a REST path starting with /", i+1, path)
		}
		a.Access = append(a.Access, access{Path: path,
			Read:  s.check(r.Context(), p, auth.Read, path) == nil,
			Write: s.check(r.Context(), p, auth.Write, path) == nil})
	}
	return writeJSON(w, http.StatusOK, a)
}
