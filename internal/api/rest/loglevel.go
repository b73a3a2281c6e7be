package rest

import (
	"log/slog"
	"net/http"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/telemetry"
)

// logLevelPath is what the log-level routes are authorized as: an
// operator's (admin) path.
const logLevelPath = "/admin/log-level"

// getLogLevel serves GET /admin/log-level: the process-wide level and
// every component's.
func (s *Server) getLogLevel(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, logLevelPath); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"level": telemetry.LevelName(telemetry.Level.Level()), "components": telemetry.Components()})
}

// setLogLevel serves PUT /admin/log-level {"level": L}: the process-wide
// level, which every component without its own follows.
func (s *Server) setLogLevel(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, logLevelPath); err != nil {
		return err
	}
	lvl, err := readLevel(r)
	if err != nil {
		return err
	}
	telemetry.Level.Set(lvl)
	s.log.InfoContext(r.Context(), "log level changed", "level", telemetry.LevelName(lvl), "principal", principalName(r.Context()))
	return writeJSON(w, http.StatusOK, map[string]string{"level": telemetry.LevelName(lvl)})
}

// getComponentLevel serves GET /admin/log-level/{component}.
func (s *Server) getComponentLevel(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, logLevelPath); err != nil {
		return err
	}
	name := r.PathValue("component")
	c, ok := telemetry.LookupComponent(name)
	if !ok {
		return unknownComponent(name)
	}
	return writeJSON(w, http.StatusOK, c)
}

// setComponentLevel serves PUT /admin/log-level/{component} {"level": L}:
// that component's own level, whatever the process-wide one.
func (s *Server) setComponentLevel(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, logLevelPath); err != nil {
		return err
	}
	name := r.PathValue("component")
	if _, ok := telemetry.LookupComponent(name); !ok {
		return unknownComponent(name)
	}
	lvl, err := readLevel(r)
	if err != nil {
		return err
	}
	c, _ := telemetry.SetComponentLevel(name, lvl)
	s.log.InfoContext(r.Context(), "log level changed", "of_component", name, "level", c.Level, "principal", principalName(r.Context()))
	return writeJSON(w, http.StatusOK, c)
}

// resetComponentLevel serves DELETE /admin/log-level/{component}: the
// component follows the process-wide level again.
func (s *Server) resetComponentLevel(w http.ResponseWriter, r *http.Request) error {
	if err := s.authorize(r, auth.Admin, logLevelPath); err != nil {
		return err
	}
	name := r.PathValue("component")
	c, ok := telemetry.ResetComponentLevel(name)
	if !ok {
		return unknownComponent(name)
	}
	s.log.InfoContext(r.Context(), "log level reset", "of_component", name, "level", c.Level, "principal", principalName(r.Context()))
	return writeJSON(w, http.StatusOK, c)
}

// readLevel reads a {"level": "debug|info|warn|error"} body.
func readLevel(r *http.Request) (slog.Level, error) {
	v, err := readJSON(r)
	if err != nil {
		return 0, err
	}
	m, _ := v.(map[string]any)
	ls, _ := m["level"].(string)
	if len(m) != 1 || ls == "" {
		return 0, schema.Errorf(schema.KindInvalid, "/level", "send {\"level\": \"debug|info|warn|error\"}")
	}
	lvl, err := telemetry.ParseLevel(ls)
	if err != nil {
		return 0, schema.Errorf(schema.KindInvalid, "/level", "%v", err)
	}
	return lvl, nil
}

func unknownComponent(name string) error {
	return schema.Errorf(schema.KindNotFound, logLevelPath+"/"+name, "no component %q logs in this process (GET %s lists them)", name, logLevelPath)
}
