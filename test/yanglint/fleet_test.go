package yanglint_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	fleetModule = "models/fleet/1.0.0/amp-fleet.yang"
	fleetSample = "test/testdata/fleet-1.0.0-sample.json"
)

// TestFleetModelAndSample: the fleet set (models/fleet) is clean standard
// YANG 1.1 for yanglint, a sample of repos, bundles, groups and a rollout
// is valid configuration, and yanglint refuses what AMP's server refuses
// by the same statements: a bundle depending on itself (must), on a
// bundle that does not exist and a stage naming no group (leafref), an
// ssh:// URL, a path leaving the repo, a branch and a pinned revision at
// once (choice), a bundle with no source, max-unavailable 0 and a poll
// interval under a minute (range), a sealing key that is no fingerprint
// (pattern) and a sealed secret without its manifest (mandatory).
func TestFleetModelAndSample(t *testing.T) {
	root := repoRoot(t)
	base := []string{"-p", "models/ietf", "-p", "models/amp"}
	if out, ok := run(t, root, append(base, fleetModule)...); !ok || strings.TrimSpace(out) != "" {
		t.Fatalf("yanglint %s: ok=%v\n%s", fleetModule, ok, out)
	}
	check := append(append([]string{"-t", "config"}, base...), fleetModule)
	refusals(t, root, check, fleetSample, []mutation{
		{"depends on itself", `"depends-on": ["sd-core"]`, `"depends-on": ["upf"]`, "a bundle cannot depend on itself"},
		{"depends on nothing", `"depends-on": ["sd-core"]`, `"depends-on": ["nope"]`, `Invalid leafref value "nope"`},
		{"an ssh URL", `"https://git.example.com/ops/aether-apps.git"`, `"ssh://git@example.com/ops.git"`, "does not conform"},
		{"a path leaving the repo", `"path": "bundles/sd-core"}`, `"path": "bundles/../../etc"}`, "does not conform"},
		{"branch and revision", `"branch": "main",`, `"branch": "main", "revision": "0123456789abcdef0123456789abcdef01234567",`, `both cases "branch" and "revision"`},
		{"no source", `"chart": {"repository": "https://charts.example.com/aether", "name": "bess-upf", "version": "1.4.2"},`, ``, `Mandatory choice "source"`},
		{"max-unavailable 0", `"max-unavailable": 2`, `"max-unavailable": 0`, "out of the allowed range"},
		{"a stage naming no group", `{"group": "staging", "order": 1}`, `{"group": "nope", "order": 1}`, `Invalid leafref value "nope"`},
		{"polling every 5 s", `"poll-interval": 86400`, `"poll-interval": 5`, "out of the allowed range"},
		{"a sealing key that is not a fingerprint", `"seal-key": ["5f1c`, `"seal-key": ["XYZ`, "does not conform"},
		{"a sealed secret without its manifest", `"sealed-secret": [{`, `"sealed-secret": [{"secret-id": "db2"}, {`, `Mandatory node "manifest"`},
	})
}

// mutation is one change to a valid sample that yanglint must refuse
// with a message containing want.
type mutation struct{ name, old, new, want string }

// refusals checks that sample is valid for check and that each mutation
// of it is refused for the reason it names.
func refusals(t *testing.T, root string, check []string, sample string, ms []mutation) {
	t.Helper()
	if out, ok := run(t, root, append(check, sample)...); !ok || strings.TrimSpace(out) != "" {
		t.Fatalf("the sample is not valid: ok=%v\n%s", ok, out)
	}
	valid, err := os.ReadFile(filepath.Join(root, sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		mutated := strings.Replace(string(valid), m.old, m.new, 1)
		if mutated == string(valid) {
			t.Fatalf("%s: the sample has no %q", m.name, m.old)
		}
		f := filepath.Join(t.TempDir(), "mutated.json")
		if err := os.WriteFile(f, []byte(mutated), 0o644); err != nil {
			t.Fatal(err)
		}
		out, ok := run(t, root, append(check, f)...)
		if ok || !strings.Contains(out, m.want) {
			t.Errorf("%s: yanglint ok=%v, want a refusal mentioning %q:\n%s", m.name, ok, m.want, out)
		}
	}
}
