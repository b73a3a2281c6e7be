package rest

import (
	"errors"
	"net/http"

	"github.com/amp-edge/amp/internal/schema"
)

// The transaction index is global: it counts every tenant's writes, so its
// current value tells a tenant how busy the others are. Tenants see the
// index of each transaction they may read (compatibility clients and
// ?min-index= need their own writes' indexes) but never the head
// (docs/api.md, "The transaction index and tenants").

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
