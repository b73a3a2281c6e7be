// Package memlimit sets the Go runtime's soft memory limit
// (debug.SetMemoryLimit) from `amp serve --memory-limit`, as Prometheus's
// --auto-gomemlimit does: by default a ratio (0.9) of the memory limit of
// the cgroup the server runs in (a container's, a systemd unit's
// MemoryMax=), nothing when there is none.
//
// Why: the collector lets the heap grow to twice the live heap before it
// collects (GOGC=100). A server holding 10,000 agents' connections keeps
// about 200 MB live and so grows to 400 MB; under a limit the collector
// runs sooner as the heap nears it, trading CPU for memory only when
// memory is short (docs/operations.md).
//
// It imports the standard library and automemlimit's cgroup reader.
package memlimit

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultRatio is the share of the cgroup's limit set when --memory-limit
// is auto (Prometheus's --auto-gomemlimit.ratio default): the rest is for
// what the Go runtime does not count (thread stacks outside the heap,
// cgo, the page cache charged to the cgroup).
const DefaultRatio = 0.9

// Setting is a --memory-limit value: auto, off, or a size.
type Setting struct {
	Auto  bool
	Bytes int64 // a size; 0 and not Auto: off
}

// Parse reads --memory-limit: "auto", "off" (or "0"), or a size in bytes
// with an optional binary or decimal suffix (512MiB, 2GiB, 1.5GB, 800000000).
func Parse(s string) (Setting, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "auto":
		return Setting{Auto: true}, nil
	case "off", "0":
		return Setting{}, nil
	}
	num := strings.TrimRight(s, "kKMGTiB")
	unit := s[len(num):]
	mult, ok := map[string]float64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*mult >= math.MaxInt64 {
		return Setting{}, fmt.Errorf("--memory-limit %q: want auto, off, or a size such as 512MiB, 2GiB or 1500000000 (bytes)", s)
	}
	n := int64(v * mult)
	if n < 64<<20 {
		return Setting{}, fmt.Errorf("--memory-limit %q: below 64MiB the server would spend its time collecting garbage", s)
	}
	return Setting{Bytes: n}, nil
}

// String is the setting as --memory-limit takes it.
func (s *Setting) String() string {
	switch {
	case s.Auto:
		return "auto"
	case s.Bytes == 0:
		return "off"
	}
	return strconv.FormatInt(s.Bytes, 10)
}

// CheckRatio checks --memory-limit-ratio.
func CheckRatio(ratio float64) error {
	if !(ratio > 0 && ratio <= 1) {
		return fmt.Errorf("--memory-limit-ratio %v: want a ratio in (0, 1]", ratio)
	}
	return nil
}

// Decision is the limit chosen and why.
type Decision struct {
	Bytes  int64  // 0: none (the runtime's default, no limit)
	Source string // "flag", "cgroup", "GOMEMLIMIT", or "none"
	Cgroup uint64 // the cgroup's limit, when it was read
}

// Decide chooses the limit: a size given is set as it is; off sets none;
// auto takes ratio of the cgroup's limit (cgroup, e.g.
// memlimit.FromCgroup) unless the GOMEMLIMIT environment variable (env)
// already set one, and none when the process has no cgroup limit.
func Decide(s Setting, ratio float64, env string, cgroup func() (uint64, error)) (Decision, error) {
	switch {
	case !s.Auto && s.Bytes > 0:
		return Decision{Bytes: s.Bytes, Source: "flag"}, nil
	case !s.Auto:
		return Decision{Source: "none"}, nil
	case env != "":
		// The runtime read it at start; the operator's word stands.
		return Decision{Bytes: debug.SetMemoryLimit(-1), Source: "GOMEMLIMIT"}, nil
	}
	if err := CheckRatio(ratio); err != nil {
		return Decision{Source: "none"}, err
	}
	limit, err := cgroup()
	switch {
	case errors.Is(err, memlimit.ErrNoLimit), errors.Is(err, memlimit.ErrNoCgroup), errors.Is(err, memlimit.ErrCgroupsNotSupported):
		return Decision{Source: "none"}, nil
	case err != nil:
		// An unreadable cgroup is no reason not to serve: no limit, said.
		return Decision{Source: "none"}, fmt.Errorf("read the cgroup's memory limit: %w", err)
	case limit == 0 || limit > math.MaxInt64:
		return Decision{Source: "none"}, nil
	}
	return Decision{Bytes: int64(float64(limit) * ratio), Source: "cgroup", Cgroup: limit}, nil
}

// Apply decides as Decide does, with the process's cgroup and
// environment, and sets the limit it chose. A cgroup that cannot be read
// is returned as an error beside a Decision of none: the caller logs it
// and serves.
func Apply(s Setting, ratio float64) (Decision, error) {
	d, err := Decide(s, ratio, os.Getenv("GOMEMLIMIT"), memlimit.FromCgroup)
	if d.Source == "flag" || d.Source == "cgroup" {
		debug.SetMemoryLimit(d.Bytes)
	}
	return d, err
}

// Set parses a --memory-limit value (a flag.Value).
func (s *Setting) Set(v string) error {
	p, err := Parse(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// Type names the flag's value in --help.
func (s *Setting) Type() string { return "auto|off|size" }
