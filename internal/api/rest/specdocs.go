package rest

import "net/http"

// writeSpec answers with the OpenAPI document, as YAML or JSON, under the
// content type ct (both /spec and the spec documents page write it so).
func (s *Server) writeSpec(w http.ResponseWriter, yaml bool, ct string) error {
	b, err := s.opts.Spec(yaml)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", ct)
	_, err = w.Write(b)
	return err
}
