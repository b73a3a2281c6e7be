package endpoint

import (
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxReason bounds the part of a backend's answer AMP keeps, in bytes.
const MaxReason = 256

// BackendError is a backend's refusal. Its Error text, which is what
// /sync-status shows the enterprise, names the request and the status
// only: a backend's answer is never relayed to a tenant (it could be
// anything the URL's owner serves). Operators see the answer's start,
// sanitised and bounded, in AMP's log: slog takes LogValue.
type BackendError struct {
	// Op is the request: "POST http://core:5000/config/v1/device-group/x".
	Op string
	// Status is the HTTP status ("400 Bad Request") or gRPC code.
	Status string
	// Detail is Reason of the answer's body (operators only).
	Detail string
}

func (e *BackendError) Error() string { return e.Op + ": the backend answered " + e.Status }

// LogValue implements slog.LogValuer: the error with the backend's reason.
func (e *BackendError) LogValue() slog.Value {
	if e.Detail == "" {
		return slog.StringValue(e.Error())
	}
	return slog.StringValue(e.Error() + ": " + e.Detail)
}

// Reason makes a backend's answer safe to log: at most MaxReason bytes of
// printable text, whitespace runs as one space, everything else (control
// characters, terminal escapes, invalid UTF-8) dropped; "…" marks a cut.
func Reason(b []byte) string {
	var sb strings.Builder
	space := false
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r == utf8.RuneError && n <= 1:
			continue
		case unicode.IsSpace(r):
			space = sb.Len() > 0
			continue
		case !unicode.IsPrint(r):
			continue
		}
		add := utf8.RuneLen(r)
		if space {
			add++
		}
		if sb.Len()+add > MaxReason {
			sb.WriteString("…")
			break
		}
		if space {
			sb.WriteByte(' ')
			space = false
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
