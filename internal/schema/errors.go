package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error so that each interface can map it to its own
// status code in one table (HTTP status, gRPC code). Never match on text.
type Kind int

const (
	// KindInvalid: the request is malformed or violates the schema (400).
	KindInvalid Kind = iota + 1
	// KindNotFound: the addressed object does not exist (404).
	KindNotFound
	// KindConflict: the request is well formed but conflicts with current
	// state: a reference to something missing, a rule across objects, a
	// rollback over later changes (409).
	KindConflict
	// KindPrecondition: an If-Match/ETag precondition failed (412).
	KindPrecondition
	// KindUnprocessable: the request is understood but refers to things that
	// cannot be processed (422), e.g. a compatibility layer's id "undefined".
	KindUnprocessable
	// KindGone: the requested history index has been compacted away (410).
	KindGone
	// KindTooLarge: the request exceeds a size limit (413).
	KindTooLarge
	// KindUnauthenticated: no or bad credentials (401).
	KindUnauthenticated
	// KindForbidden: authenticated but not allowed (403).
	KindForbidden
	// KindUnavailable: the server is shutting down or not ready (503).
	KindUnavailable
	// KindInternal: the server failed at something it should have done,
	// e.g. the authorization policy could not be evaluated (500). The
	// reason says what failed; the details are in the server log.
	KindInternal
)

// Problem is one reason a request was refused, located by path. Path is a
// data path in REST form (/{set}/v{version}/{tenant}/site/s1/device/d1/imei)
// or, for
// request-shape problems, a JSON pointer into the request body.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Error is the one error type AMP's layers pass upward. It carries a Kind for
// status mapping and every problem found, so a client can fix all of them in
// one round trip.
type Error struct {
	Kind     Kind
	Message  string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Reason)
		if i == 9 && len(e.Problems) > 10 {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-10)
			break
		}
	}
	return b.String()
}

// Errorf builds an Error of one problem.
func Errorf(kind Kind, path, format string, args ...any) *Error {
	reason := fmt.Sprintf(format, args...)
	return &Error{Kind: kind, Message: kindMessage(kind), Problems: []Problem{{Path: path, Reason: reason}}}
}

// KindOf returns the kind of err, KindInvalid for a plain error that crossed a
// boundary without one (the caller's input is the usual suspect), and 0 for nil.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func kindMessage(k Kind) string {
	switch k {
	case KindInvalid:
		return "validation failed"
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindPrecondition:
		return "precondition failed"
	case KindUnprocessable:
		return "unprocessable request"
	case KindGone:
		return "history no longer available"
	case KindTooLarge:
		return "request too large"
	case KindUnauthenticated:
		return "authentication required"
	case KindForbidden:
		return "forbidden"
	case KindUnavailable:
		return "service unavailable"
	}
	return "error"
}

// Problems accumulates problems of one kind while a request is checked, so
// all of them are reported together.
type Problems struct {
	Kind Kind
	List []Problem
}

// Add records a problem.
func (p *Problems) Add(path, format string, args ...any) {
	p.List = append(p.List, Problem{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was recorded, else an *Error.
func (p *Problems) Err() error {
	if len(p.List) == 0 {
		return nil
	}
	k := p.Kind
	if k == 0 {
		k = KindInvalid
	}
	return &Error{Kind: k, Message: kindMessage(k), Problems: p.List}
}
