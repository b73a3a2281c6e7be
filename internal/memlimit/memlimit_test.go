package memlimit

import (
	"os"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Setting{
		"auto":       {Auto: true},
		"AUTO":       {Auto: true},
		"off":        {},
		"0":          {},
		"512MiB":     {Bytes: 512 << 20},
		"2GiB":       {Bytes: 2 << 30},
		"1.5GB":      {Bytes: 1_500_000_000},
		"800000000":  {Bytes: 800_000_000},
		" 100000kB ": {Bytes: 100_000_000},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1GiB", "12XB", "1MiB", "NaNGiB", "1e30TiB"} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("Parse(%q): %v, want an error naming --memory-limit", in, err)
		}
	}
}

func TestDecide(t *testing.T) {
	cgroup := func(limit uint64, err error) func() (uint64, error) {
		return func() (uint64, error) { return limit, err }
	}
	never := func() (uint64, error) { t.Fatal("the cgroup was read"); return 0, nil }
	cases := []struct {
		name    string
		s       Setting
		ratio   float64
		env     string
		cg      func() (uint64, error)
		want    Decision
		wantErr bool
	}{
		{"a size is set as it is", Setting{Bytes: 1 << 30}, 0.9, "", never, Decision{Bytes: 1 << 30, Source: "flag"}, false},
		{"a size beats GOMEMLIMIT", Setting{Bytes: 1 << 30}, 0.9, "200MiB", never, Decision{Bytes: 1 << 30, Source: "flag"}, false},
		{"off sets none", Setting{}, 0.9, "", never, Decision{Source: "none"}, false},
		{"auto takes the ratio of the cgroup's limit", Setting{Auto: true}, 0.9, "", cgroup(2<<30, nil), Decision{Bytes: 1932735283, Source: "cgroup", Cgroup: 2 << 30}, false},
		{"auto without a cgroup limit sets none", Setting{Auto: true}, 0.9, "", cgroup(0, memlimit.ErrNoLimit), Decision{Source: "none"}, false},
		{"auto outside a cgroup sets none", Setting{Auto: true}, 0.9, "", cgroup(0, memlimit.ErrNoCgroup), Decision{Source: "none"}, false},
		{"auto with an unreadable cgroup sets none and says why", Setting{Auto: true}, 0.9, "", cgroup(0, os.ErrPermission), Decision{Source: "none"}, true},
		{"auto with a ratio out of range is refused", Setting{Auto: true}, 1.5, "", never, Decision{Source: "none"}, true},
	}
	for _, c := range cases {
		got, err := Decide(c.s, c.ratio, c.env, c.cg)
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("%s: Decide = %+v, %v; want %+v (error: %v)", c.name, got, err, c.want, c.wantErr)
		}
	}
	// GOMEMLIMIT is the operator's: auto keeps the limit the runtime read.
	got, err := Decide(Setting{Auto: true}, 0.9, "300MiB", never)
	if err != nil || got.Source != "GOMEMLIMIT" {
		t.Errorf("auto with GOMEMLIMIT: %+v, %v; want the environment's limit kept", got, err)
	}
	if err := CheckRatio(0); err == nil || !strings.Contains(err.Error(), "--memory-limit-ratio") {
		t.Errorf("CheckRatio(0) = %v, want an error naming the flag", err)
	}
}
