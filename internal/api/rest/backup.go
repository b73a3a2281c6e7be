package rest

import (
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/backup"
)

// backupMetrics make the age of the newest backup observable: alert on
// time() - amp_backup_last_success_timestamp_seconds.
type backupMetrics struct {
	lastSuccess prometheus.Gauge
	duration    prometheus.Histogram
	backups     *prometheus.CounterVec
}

func newBackupMetrics(reg *prometheus.Registry) *backupMetrics {
	m := &backupMetrics{
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "amp_backup_last_success_timestamp_seconds",
			Help: "Unix time at which the last successful backup (GET /admin/backup) completed; 0 if none since the server started.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "amp_backup_duration_seconds",
			Help:    "Duration of backups served by GET /admin/backup, successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10 ms … 82 s
		}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "amp_backups_total",
			Help: "Backups served by GET /admin/backup, by result (ok or error).",
		}, []string{"result"}),
	}
	m.backups.WithLabelValues("ok")
	m.backups.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.lastSuccess, m.duration, m.backups)
	}
	return m
}

// countingWriter counts what reached the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// backup streams a backup of the whole store (docs/backup.md): operators
// only, since it holds every enterprise and the hashed API tokens.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) error {
	// Who took a copy of everything goes in the audit trail, allowed or not.
	info(r.Context()).event = "backup"
	if err := s.authorize(r, auth.Admin, "/admin/backup"); err != nil {
		return err
	}
	start := time.Now()
	w.Header().Set("Content-Type", "application/vnd.amp.backup")
	w.Header().Set("Content-Disposition", `attachment; filename="amp.ampbak"`)
	cw := &countingWriter{w: w}
	h, t, err := s.eng.Backup(cw, backup.Header{Created: start.UTC(), AMPVersion: s.opts.Version, Source: s.opts.StoreKind, Key: s.opts.BackupKey})
	d := time.Since(start)
	s.backupM.duration.Observe(d.Seconds())
	attrs := []any{"index", h.Last, "objects", t.Objects, "records", t.Records, "first_index", t.First, "metas", t.Metas,
		"bytes", cw.n, "duration", d.String(), "principal", principalName(r.Context())}
	if err != nil {
		s.backupM.backups.WithLabelValues("error").Inc()
		s.log.ErrorContext(r.Context(), "backup failed", append(attrs, "error", err)...)
		if cw.n == 0 {
			return err
		}
		// The status line is gone: the client gets a stream without its
		// end frame, which every backup reader refuses as truncated.
		return nil
	}
	s.backupM.backups.WithLabelValues("ok").Inc()
	s.backupM.lastSuccess.Set(float64(time.Now().Unix()))
	s.log.InfoContext(r.Context(), "backup taken", attrs...)
	return nil
}
