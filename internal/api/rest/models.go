package rest

import (
	"net/http"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
)

// modelsEntry is one model set in GET /models: its name and every loaded
// version with its descriptor and modules.
type modelsEntry struct {
	Name     string         `json:"name"`
	Versions []modelVersion `json:"versions"`
}

// modelVersion is one loaded version; migrated-to names the version its
// objects were migrated to (docs/models.md, "Migrations").
type modelVersion struct {
	schema.SetDescription
	MigratedTo string `json:"migrated-to,omitempty"`
	MigratedBy uint64 `json:"migrated-by,omitempty"` // the migration's transaction
}

// models implements GET /models: the loaded model sets, so that clients (the
// CLI, the portal) learn the server's sets instead of knowing them by name.
// ?tree=true adds each version's tree (docs/api.md, "Top-level routes").
func (s *Server) models(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Read, "/models"); err != nil {
		return err
	}
	withTree := false
	switch t := r.URL.Query().Get("tree"); t {
	case "", "false":
	case "true":
		withTree = true
	default:
		return schema.Errorf(schema.KindInvalid, "?tree", "%q is not true or false", t)
	}
	out := []modelsEntry{}
	at := map[string]int{}
	snap := s.eng.Snapshot()
	for _, set := range s.sch.Sets { // sorted by name, then version
		i, ok := at[set.Name]
		if !ok {
			i = len(out)
			at[set.Name] = i
			out = append(out, modelsEntry{Name: set.Name})
		}
		v := modelVersion{SetDescription: set.Describe(withTree)}
		if m, ok := snap.MigratedTo(set); ok {
			v.MigratedTo, v.MigratedBy = m.To, m.Index
		}
		out[i].Versions = append(out[i].Versions, v)
	}
	return writeJSON(w, http.StatusOK, out)
}
