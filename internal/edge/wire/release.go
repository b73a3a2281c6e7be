package wire

// KindHelmRelease is the kind of the objects that carry a Helm release to
// a site: the fleet's source derives them from the bundles staged for the
// cluster (lifecycle, docs/lifecycle.md) and the agent's Helm applier
// keeps them installed.
const KindHelmRelease = "helm-release"

// HelmRelease is the spec of a helm-release object: one release the
// site's agent installs, upgrades or rolls back to match, and uninstalls
// when the object is removed. The object's name is the release's.
type HelmRelease struct {
	Namespace string `json:"namespace"`
	// Bundle and Version say what the release carries: the fleet bundle
	// and the version of it staged for this cluster. The agent reports
	// Version back (ObjectStatus.Version) once the release runs it.
	Bundle  string `json:"bundle"`
	Version string `json:"version"`
	Chart   Chart  `json:"chart"`
	// Values are the bundle's values with the overrides of the targets the
	// cluster matches merged over them, as Helm takes them.
	Values map[string]any `json:"values,omitempty"`
	// Timeout bounds one install or upgrade, readiness included (0: the
	// applier's default).
	Timeout Duration `json:"timeout,omitempty"`
	// Test runs the chart's Helm tests after an install or upgrade; a
	// failed test fails the object.
	Test bool `json:"test,omitempty"`
}

// Chart is a chart archive AMP holds, addressed by content: the agent
// downloads it over its link (ChartPath) and checks the digest before
// it uses it, so a site needs no route to the git server or the chart
// repository.
type Chart struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Digest is "sha256:<hex>" of the .tgz archive.
	Digest string `json:"digest"`
}
