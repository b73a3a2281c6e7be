// Package deps holds the test that keeps the import rules of the
// architecture (docs/architecture.md): data flows one way, from the
// interfaces down through the engine to the store and the backends, and
// nothing below calls back up; product code never depends on test
// scaffolding; one binary.
package deps

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/amp-edge/amp/"

type pkg struct {
	path, name string
	imports    []string // AMP packages only, module prefix removed
}

// packages lists the module's packages with their (non-test) imports.
func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Name}}|{{join .Imports ","}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 3)
		p := pkg{path: strings.TrimPrefix(f[0], module), name: f[1]}
		for _, imp := range strings.Split(f[2], ",") {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				p.imports = append(p.imports, rest)
			}
		}
		ps = append(ps, p)
	}
	if len(ps) < 20 {
		t.Fatalf("go list found only %d packages", len(ps))
	}
	return ps
}

func under(path string, prefixes ...string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// TestImportRules: each rule names the packages it binds and what they may
// not import; a violation names both ends.
func TestImportRules(t *testing.T) {
	rules := []struct {
		why       string
		applies   func(p pkg) bool
		forbidden []string
		except    []string // imports allowed although forbidden matches them
	}{
		{
			why: "nothing below the interfaces calls back up into them (DESIGN: data flows one way)",
			applies: func(p pkg) bool {
				return !under(p.path, "cmd", "internal/server", "internal/api", "internal/testenv", "test", "internal/aether/rocapi", "internal/provision/provisionapi", "internal/edge/edgeapi", "internal/fleet/fleetapi", "internal/fleet/sealapi", "internal/monitor/monitorapi")
			},
			forbidden: []string{"internal/api", "internal/server", "cmd"},
		},
		{
			why: "a compatibility layer is part of the interfaces (it serves routes through internal/api/compat), never of the assembly",
			applies: func(p pkg) bool {
				return under(p.path, "internal/aether/rocapi", "internal/provision/provisionapi", "internal/edge/edgeapi", "internal/fleet/fleetapi", "internal/fleet/sealapi", "internal/monitor/monitorapi")
			},
			forbidden: []string{"internal/api/rest", "internal/api/gnmi", "internal/server", "cmd"},
		},
		{
			why:       "nothing below the configuration engine (the schema, the store) knows the API: the engine serves every interface alike",
			applies:   func(p pkg) bool { return under(p.path, "internal/schema", "internal/store", "internal/config") },
			forbidden: []string{"internal/api"},
		},
		{
			why:       "the edge agent talks to the server through the public client, never through its interfaces or assembly",
			applies:   func(p pkg) bool { return under(p.path, "internal/agent") },
			forbidden: []string{"internal/api", "internal/server"},
		},
		{
			why:       "the edge agent (internal/agent) links no server code: it speaks the wire protocol (internal/edge/wire) with the TLS kit and the telemetry, and nothing else of AMP",
			applies:   func(p pkg) bool { return under(p.path, "internal/agent") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
			except:    []string{"internal/agent", "internal/edge/wire", "internal/tlsutil", "internal/telemetry", "internal/seal"},
		},
		{
			why: "the central end of the agent link (internal/edge) lies below the interfaces and never links the agent: AMP and the agent share internal/edge/wire only",
			applies: func(p pkg) bool {
				return under(p.path, "internal/edge") && !under(p.path, "internal/edge/edgeapi")
			},
			forbidden: []string{"internal/api", "internal/server", "cmd", "internal/agent"},
		},
		{
			why: "the generic layers read every model set from its descriptor and know no set's code: Aether's wing (internal/aether) registers with them, and only the assembly's entry point (cmd/amp) imports it",
			applies: func(p pkg) bool {
				return !under(p.path, "internal/aether", "cmd", "internal/testenv", "test")
			},
			forbidden: []string{"internal/aether"},
		},
		{
			why: "the generic layers know no set's code: the inventory's wing (internal/provision) registers with them, and only the assembly's entry point (cmd/amp) imports it (and the probes' wing, internal/edge/probes, which selects the inventory's clusters by site and label)",
			applies: func(p pkg) bool {
				return !under(p.path, "internal/provision", "internal/edge/probes", "cmd", "internal/testenv", "test")
			},
			forbidden: []string{"internal/provision"},
		},
		{
			why: "the generic layers know no set's code: the fleet set's wing (internal/fleet) registers with them, and only the assembly's entry point (cmd/amp) imports it",
			applies: func(p pkg) bool {
				return !under(p.path, "internal/fleet", "cmd", "internal/testenv", "test")
			},
			forbidden: []string{"internal/fleet"},
		},
		{
			why:       "the probes' central end (internal/edge/probes) is a model set's wing below the interfaces: it reads the engine and the inventory, never the REST layer's helpers or the components it is run by",
			applies:   func(p pkg) bool { return under(p.path, "internal/edge/probes") },
			forbidden: []string{"internal/api", "internal/component", "internal/edge/edgeapi", "internal/agent"},
		},
		{
			why: "the generic layers know no set's code: the monitor set's wing (internal/monitor) registers with them, and only the assembly's entry point (cmd/amp) imports it",
			applies: func(p pkg) bool {
				return !under(p.path, "internal/monitor", "cmd", "internal/testenv", "test")
			},
			forbidden: []string{"internal/monitor"},
		},
		{
			why:       "an interface never reaches into the assembly of amp serve",
			applies:   func(p pkg) bool { return under(p.path, "internal/api") },
			forbidden: []string{"internal/server", "cmd"},
		},
		{
			why:       "product code never depends on test scaffolding",
			applies:   func(p pkg) bool { return !under(p.path, "internal/testenv", "test") },
			forbidden: []string{"internal/testenv", "test"},
		},
		{
			why:       "the schema and the store are the bottom: they import no other AMP package",
			applies:   func(p pkg) bool { return under(p.path, "internal/store") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
		},
		{
			why:       "the schema and the store are the bottom: they import no other AMP package (the schema's sub-packages, e.g. migrate, build on the schema alone)",
			applies:   func(p pkg) bool { return under(p.path, "internal/schema") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
			except:    []string{"internal/schema"},
		},
		{
			why:       "the public client (and so the CLI's verbs and the edge agent) speaks to the server only over the API",
			applies:   func(p pkg) bool { return under(p.path, "client") },
			forbidden: []string{"internal/api", "internal/server", "internal/config", "internal/store", "internal/controller"},
		},
		{
			why: "the interfaces and the audit trail ask the authorizer seam (internal/auth), never the policy engine: only the wiring of amp serve and the CLI's policy tests import it",
			applies: func(p pkg) bool {
				return !under(p.path, "internal/server", "cmd", "internal/policy", "internal/testenv", "test")
			},
			forbidden: []string{"internal/policy"},
		},
		{
			why: "the agent CA (its signing key) is AMP's: only the assembly, the routes that enrol, renew and revoke, and the inventory's directory of clusters use it; never the agent",
			applies: func(p pkg) bool {
				return !under(p.path, "internal/edge/ca", "internal/server", "internal/edge/edgeapi", "internal/provision", "cmd", "internal/testenv", "test")
			},
			forbidden: []string{"internal/edge/ca"},
		},
		{
			why:       "a simulated site (internal/testenv/kube) is Kubernetes alone, on the test etcd: it knows no AMP code, so the agent's tests meet the API a real site serves",
			applies:   func(p pkg) bool { return under(p.path, "internal/testenv/kube") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
			except:    []string{"internal/testenv/etcd", "internal/testenv/toolcache"}, // the test etcd, and where the test tools are
		},
		{
			why:       "the SealedSecret format (internal/seal) is shared by amp seal, AMP and the edge agent: it imports the standard library only",
			applies:   func(p pkg) bool { return under(p.path, "internal/seal") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
		},
		{
			why:       "the kubelet stand-in (internal/testenv/kubelet) speaks the Kubernetes API only, as a kubelet does: it knows no AMP code",
			applies:   func(p pkg) bool { return under(p.path, "internal/testenv/kubelet") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
		},
		{
			why:       "amp verify's checks (internal/fleet/verify) run in any CI without a server: they read a git working copy and know no other AMP code",
			applies:   func(p pkg) bool { return under(p.path, "internal/fleet/verify") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
		},
		{
			why:       "the fleet's releases (internal/fleet/release) derive desired state and prepare charts: they know the engine, the edge hub's sources and the fleet's wing, never the REST API, the agent or the rollouts that read them",
			applies:   func(p pkg) bool { return under(p.path, "internal/fleet/release") },
			forbidden: []string{"internal/api", "internal/agent", "internal/fleet/rollout", "internal/fleet/fleetapi", "internal/server", "cmd"},
		},
		{
			why:       "parking a waiting request's connection (internal/park) is HTTP plumbing under any handler: it knows net/http, no AMP code",
			applies:   func(p pkg) bool { return under(p.path, "internal/park") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
		},
		{
			why:       "the workflow engine (internal/workflow) is generic: it keeps runs in the store's metadata and runs the kinds registered with it, knowing no model set, interface or wing",
			applies:   func(p pkg) bool { return under(p.path, "internal/workflow") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
			except:    []string{"internal/config", "internal/store", "internal/schema"},
		},
		{
			why:       "an adapter knows the engine and its controller, not the other adapters",
			applies:   func(p pkg) bool { return under(p.path, "internal/adapter", "internal/aether/sdcore") },
			forbidden: []string{"internal/adapter"},
		},
		{
			why:       "the portal is files in the browser that call the REST API like any client: its server side serves the embedded build (web) and knows no engine, store, policy or identity",
			applies:   func(p pkg) bool { return under(p.path, "internal/api/portal", "web") },
			forbidden: []string{"internal", "client", "cmd", "models", "policy"},
		},
	}
	for _, p := range packages(t) {
		for _, r := range rules {
			if !r.applies(p) {
				continue
			}
			for _, imp := range p.imports {
				if under(imp, p.path) {
					continue // its own sub-packages
				}
				if under(imp, r.forbidden...) && !under(imp, r.except...) {
					t.Errorf("%s imports %s: %s", p.path, imp, r.why)
				}
			}
		}
	}
}

// TestOneBinary: cmd/amp is the only main, apart from the test tools
// (internal/testenv/…/cmd) and the standalone emulators
// (internal/aether/emulator/…/cmd).
func TestOneBinary(t *testing.T) {
	for _, p := range packages(t) {
		if p.name != "main" || p.path == "cmd/amp" {
			continue
		}
		if !(under(p.path, "internal/testenv", "internal/aether/emulator") && strings.Contains(p.path, "/cmd/")) {
			t.Errorf("%s is a main package: AMP is one binary, cmd/amp", p.path)
		}
	}
}
