package controller

import (
	"context"
	"errors"
)

// progressKey carries, in the context of a Push or Delete, the function
// that records its progress.
type progressKey struct{}

// Progress reports, from within a Push or Delete that takes long (a Helm
// release rolling out, a backend loading a large configuration), what it
// is doing and how far it has come, as a fraction from 0 to 1 (clamped):
// the object's status is then progressing, with the message and the
// fraction, until the operation ends. Outside a push it does nothing.
func Progress(ctx context.Context, message string, fraction float64) {
	if f, ok := ctx.Value(progressKey{}).(func(string, float64)); ok {
		f(message, min(max(fraction, 0), 1))
	}
}

// terminalError marks an error retrying cannot fix.
type terminalError struct{ err error }

func (t terminalError) Error() string { return t.err.Error() }
func (t terminalError) Unwrap() error { return t.err }

// Terminal marks err, returned by Push or Delete, as one retrying cannot
// fix (the backend refuses the object itself, say, not a passing fault):
// the object's status is error, marked terminal, the failure is counted in
// amp_controller_terminal_errors_total, and the object is not tried again
// until what the adapter renders for it changes. nil stays nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return terminalError{err}
}

// IsTerminal reports whether err, or an error it wraps, was marked
// Terminal.
func IsTerminal(err error) bool {
	var t terminalError
	return errors.As(err, &t)
}
