package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/testenv"
)

// fleetSample declares a config repo, two bundles (upf after sd-core),
// the book's staging and production groups and a rollout through them.
const fleetSample = `{
  "git-repo": [{"repo-id": "aether-apps", "url": "https://git.example.com/ops/aether-apps.git",
                "path": ["bundles"], "webhook-secret": "aether-apps-hook"}],
  "bundle": [
    {"bundle-id": "sd-core", "git": {"repo": "aether-apps", "path": "bundles/sd-core"}, "namespace": "omec",
     "target": [{"name": "production", "match-label": [{"name": "env", "value": "production"}], "values": "replicas: 3\n"}]},
    {"bundle-id": "upf", "chart": {"repository": "https://charts.example.com/aether", "name": "bess-upf", "version": "1.4.2"},
     "depends-on": ["sd-core"]}],
  "cluster-group": [
    {"group-id": "staging", "match-label": [{"name": "env", "value": "staging"}]},
    {"group-id": "production", "match-label": [{"name": "env", "value": "production"}], "cluster": ["ace-x"]}],
  "rollout": [{"rollout-id": "sd-core-2-1", "bundle": "sd-core", "version": "2.1.0",
               "stage": [{"group": "staging", "order": 1}, {"group": "production", "order": 2, "max-unavailable": 2}]}]}`

// TestFleetModelSet: the fleet set is served by default beside aether and
// inventory (REST and the CLI's short paths), with its defaults (branch
// main, max-unavailable 1); a depends-on cycle is refused at commit
// naming the cycle and changes nothing; a group may name only declared
// inventory clusters, and a cluster a group names cannot be deleted; an
// ssh:// URL and a path leaving the repo are refused with their paths.
func TestFleetModelSet(t *testing.T) {
	s := testenv.Start(t, t.TempDir())
	ctx := context.Background()
	s.Must(t, 201, "POST", "/inventory/v1.0.0", aceX)
	s.Must(t, 201, "POST", "/fleet/v1.0.0", fleetSample)

	var repo map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/fleet/v1.0.0/git-repo/aether-apps?with-defaults=report-all", ""), &repo); err != nil {
		t.Fatal(err)
	}
	if repo["branch"] != "main" || repo["webhook-secret"] != "aether-apps-hook" {
		t.Errorf("git-repo aether-apps = %v, want branch main (the default) and the secret's id", repo)
	}
	if b := string(s.Must(t, 200, "GET", "/fleet/v1.0.0/rollout/sd-core-2-1/stage/staging?with-defaults=report-all", "")); !strings.Contains(b, `"max-unavailable":1`) {
		t.Errorf("a stage's max-unavailable defaults to one cluster, got %s", b)
	}
	code, out, errOut := amp(t, s, "get", "fleet/bundle/upf", "-o", "json")
	if code != 0 || !strings.Contains(out, `"sd-core"`) || !strings.Contains(out, `"bess-upf"`) {
		t.Errorf("amp get fleet/bundle/upf: exit %d\n%s%s", code, out, errOut)
	}

	refused := func(name string, want int, method, path, body string, wants ...string) {
		t.Helper()
		before := index(t, s)
		got, b, _, err := s.Do(ctx, method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %s %s = %d, want %d: %s", name, method, path, got, want, b)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: the answer lacks %q: %s", name, w, b)
			}
		}
		if after := index(t, s); after != before {
			t.Errorf("%s: a refused write moved the index from %s to %s", name, before, after)
		}
	}
	refused("a two-bundle cycle", 409, "PATCH", "/fleet/v1.0.0/bundle/sd-core", `{"depends-on": ["upf"]}`,
		`"path":"/fleet/v1.0.0/bundle/sd-core/depends-on"`, "sd-core → upf → sd-core")
	refused("a three-bundle cycle in one transaction", 409, "POST", "/fleet/v1.0.0",
		`{"bundle": [{"bundle-id": "a", "chart": {"repository": "https://c.example.com", "name": "a", "version": "1.0.0"}, "depends-on": ["b"]},
		             {"bundle-id": "b", "chart": {"repository": "https://c.example.com", "name": "b", "version": "1.0.0"}, "depends-on": ["c"]},
		             {"bundle-id": "c", "chart": {"repository": "https://c.example.com", "name": "c", "version": "1.0.0"}, "depends-on": ["a"]}]}`,
		"cycle")
	refused("itself", 409, "PATCH", "/fleet/v1.0.0/bundle/upf", `{"depends-on": ["upf"]}`, `bundle \"upf\" cannot depend on itself`)
	refused("a group naming an undeclared cluster", 409, "PATCH", "/fleet/v1.0.0/cluster-group/staging", `{"cluster": ["ace-nowhere"]}`,
		"/fleet/v1.0.0/cluster-group/staging/cluster", "ace-nowhere")
	refused("deleting a cluster a group names", 409, "DELETE", "/inventory/v1.0.0/cluster/ace-x", "", "cluster-group/production")
	refused("an ssh URL", 400, "PATCH", "/fleet/v1.0.0/git-repo/aether-apps", `{"url": "ssh://git@example.com/ops.git"}`,
		"/fleet/v1.0.0/git-repo/aether-apps/url")
	refused("a path leaving the repo", 400, "PATCH", "/fleet/v1.0.0/bundle/sd-core/git", `{"path": "../../etc"}`,
		"/fleet/v1.0.0/bundle/sd-core/git/path")

	// A chain that is not a cycle is fine, and the depends-on kept.
	s.Must(t, 200, "PATCH", "/fleet/v1.0.0/bundle/sd-core", `{"values": "replicas: 1\n"}`)
	var models []map[string]any
	if err := json.Unmarshal(s.Must(t, 200, "GET", "/models", ""), &models); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range models {
		found = found || m["name"] == "fleet"
	}
	if !found {
		t.Errorf("GET /models does not list the fleet set: %v", models)
	}
}
