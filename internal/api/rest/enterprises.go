package rest

import (
	"net/http"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// readObject reads a write's ?dry-run flag and its JSON object body.
func readObject(r *http.Request, want string) (map[string]any, bool, error) {
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return nil, false, err
	}
	body, err := readJSON(r)
	if err != nil {
		return nil, false, err
	}
	m, ok := body.(map[string]any)
	if !ok {
		return nil, false, schema.Errorf(schema.KindInvalid, "/", "expected %s", want)
	}
	return m, dry, nil
}

// targets answers GET /targets: [{"name": …}], the tenants the caller may
// read.
func (s *Server) targets(w http.ResponseWriter, r *http.Request) error {
	out := []map[string]string{}
	for _, t := range s.eng.Snapshot().Targets() {
		name := t.Data[tenant.IDField].(string)
		if s.check(r.Context(), auth.FromContext(r.Context()), auth.Read, "/enterprises/"+name) == nil {
			out = append(out, map[string]string{"name": name})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listEnterprises(w http.ResponseWriter, r *http.Request) error {
	out := []map[string]any{}
	for _, t := range s.eng.Snapshot().Targets() {
		name := t.Data[tenant.IDField].(string)
		if s.check(r.Context(), auth.FromContext(r.Context()), auth.Read, "/enterprises/"+name) == nil {
			out = append(out, t.Data)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getEnterprise(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.authorize(r, auth.Read, "/enterprises/"+id); err != nil {
		return err
	}
	t, ok := s.eng.Snapshot().Target(id)
	if !ok {
		return schema.Errorf(schema.KindNotFound, "/enterprises/"+id, "enterprise %q does not exist", id)
	}
	w.Header().Set("ETag", etag(t.Modified))
	return writeJSON(w, http.StatusOK, t.Data)
}

func (s *Server) createEnterprise(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, "/enterprises"); err != nil {
		return err
	}
	m, dry, err := readObject(r, `{"`+tenant.IDField+`": …, "display-name": …, "description": …}`)
	if err != nil {
		return err
	}
	var probs schema.Problems
	te := config.TargetEdit{Op: config.OpCreate}
	for k, v := range m {
		sv, isStr := v.(string)
		if !isStr {
			probs.Add("/"+k, "must be a string")
			continue
		}
		switch k {
		case tenant.IDField:
			te.Name = sv
		case "display-name":
			if len(sv) < 1 || len(sv) > 80 {
				probs.Add("/display-name", "must be 1..80 characters")
			}
			te.DisplayName = sv
		case "description":
			if len(sv) < 1 || len(sv) > 1024 {
				probs.Add("/description", "must be 1..1024 characters")
			}
			te.Description = sv
		default:
			probs.Add("/"+k, "unknown field %q", k)
		}
	}
	if te.Name == "" {
		probs.Add("/"+tenant.IDField, "is required")
	}
	if err := probs.Err(); err != nil {
		return err
	}
	req := s.request(r, dry)
	req.Targets = []config.TargetEdit{te}
	res, err := s.eng.Submit(r.Context(), req)
	if err != nil {
		return err
	}
	return respondResult(w, r, res, http.StatusCreated)
}

func (s *Server) deleteEnterprise(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.authorize(r, auth.Admin, "/enterprises/"+id); err != nil {
		return err
	}
	dry, err := queryBool(r, "dry-run")
	if err != nil {
		return err
	}
	req := s.request(r, dry)
	req.Targets = []config.TargetEdit{{Op: config.OpDelete, Name: id}}
	res, err := s.eng.Submit(r.Context(), req)
	if err != nil {
		return err
	}
	if !dry && s.opts.Tokens != nil {
		// Its tokens are dead already (the id is retired, and tokens
		// check that); revoking removes them from the token list, and
		// the deletion's audit record names them.
		revoked, err := s.opts.Tokens.RevokeEnterprise(id)
		if in := info(r.Context()); len(revoked) > 0 {
			in.touch("/enterprises/" + id)
			for _, tid := range revoked {
				in.touch("/tokens/" + tid)
			}
		}
		if err != nil {
			s.log.Error("revoking the tokens of a deleted enterprise failed; they no longer authenticate", "enterprise", id, "error", err)
		}
	}
	return respondResult(w, r, res, http.StatusOK)
}
