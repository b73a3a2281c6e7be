package rest

import (
	"net/http"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
)

// modelsEntry is one model set in GET /models: its name and every loaded
// version with its descriptor and modules.
type modelsEntry struct {
	Name     string                  `json:"name"`
	Versions []schema.SetDescription `json:"versions"`
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
	for _, set := range s.sch.Sets { // sorted by name, then version
		i, ok := at[set.Name]
		if !ok {
			i = len(out)
			at[set.Name] = i
			out = append(out, modelsEntry{Name: set.Name})
		}
		out[i].Versions = append(out[i].Versions, set.Describe(withTree))
	}
	return writeJSON(w, http.StatusOK, out)
}
