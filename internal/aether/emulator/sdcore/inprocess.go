package sdcore

import "encoding/json"

// NewHandler returns an emulator that serves no listener of its own (its
// URL is empty): amp serve --demo mounts several, one per emulated core
// and UPF, under path prefixes of one loopback listener. Its state starts
// as StartAt's does (keep the two in step).
func NewHandler() *Emulator {
	return &Emulator{objects: map[string]map[string]json.RawMessage{}}
}
