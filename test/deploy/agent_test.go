package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// applierRules are what the cluster applier of amp agent does on the local
// Kubernetes API (docs/agent.md): declared node labels and taints are read,
// watched for drift and patched; declared namespaces are created, watched
// and deleted when no longer declared.
var applierRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch", "patch", "update"}},
	{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
}

const stateDir = "/var/lib/amp-agent"

// TestAgentChartDefaults: with its default values the chart runs one agent
// (never two at once) on a persistent state directory, enrols with the
// token from the operator's Secret without ever putting the token on a
// command line, runs as non-root with a read-only root, and may do on the
// cluster exactly what the applier needs.
func TestAgentChartDefaults(t *testing.T) {
	objs := objects(t, "amp-agent", nil)
	want := []string{"ClusterRole/amp-agent", "ClusterRoleBinding/amp-agent", "Deployment/amp-agent",
		"PersistentVolumeClaim/amp-agent-state", "ServiceAccount/amp-agent"}
	if got := keys(objs); !slices.Equal(got, want) {
		t.Errorf("rendered %v, want %v", got, want)
	}

	role := get[*rbacv1.ClusterRole](t, objs, "ClusterRole/amp-agent")
	assertRules(t, role.Rules)
	binding := get[*rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding/amp-agent")
	if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != role.Name {
		t.Errorf("binding refers to %s/%s, want ClusterRole/%s", binding.RoleRef.Kind, binding.RoleRef.Name, role.Name)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" ||
		binding.Subjects[0].Name != "amp-agent" || binding.Subjects[0].Namespace != "amp-test" {
		t.Errorf("binding subjects %+v, want the release's service account amp-test/amp-agent", binding.Subjects)
	}

	d := get[*appsv1.Deployment](t, objs, "Deployment/amp-agent")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate (two agents must never share the state directory)", d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != "amp-agent" {
		t.Errorf("service account %q, want amp-agent", pod.ServiceAccountName)
	}

	// The state directory is the persistent claim the chart made, kept on
	// uninstall.
	pvc := get[*corev1.PersistentVolumeClaim](t, objs, "PersistentVolumeClaim/amp-agent-state")
	if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("state claim annotations %v: an uninstall would delete the cluster's credentials", pvc.Annotations)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("64Mi")) != 0 {
		t.Errorf("state claim requests %s, want 64Mi", q.String())
	}
	state := volume(t, pod, "state")
	if state.PersistentVolumeClaim == nil || state.PersistentVolumeClaim.ClaimName != pvc.Name {
		t.Errorf("state volume %+v, want claim %s", state.VolumeSource, pvc.Name)
	}

	register := container(t, pod.InitContainers, "register")
	agent := container(t, pod.Containers, "agent")
	for _, c := range []corev1.Container{register, agent} {
		if mountPath(c, "state") != stateDir {
			t.Errorf("%s mounts the state volume at %q, want %s", c.Name, mountPath(c, "state"), stateDir)
		}
		if argAfter(c.Args, "--dir") != stateDir {
			t.Errorf("%s args %v: --dir is not %s", c.Name, c.Args, stateDir)
		}
	}

	// Enrolment: the token is a file of the operator's Secret.
	tokenVol := volume(t, pod, "token")
	if tokenVol.Secret == nil || tokenVol.Secret.SecretName != "amp-agent-token" ||
		len(tokenVol.Secret.Items) != 1 || tokenVol.Secret.Items[0].Key != "token" || tokenVol.Secret.Items[0].Path != "token" {
		t.Errorf("token volume %+v, want key token of secret amp-agent-token", tokenVol.VolumeSource)
	}
	if got, want := argAfter(register.Args, "--token-file"), mountPath(register, "token")+"/token"; got != want {
		t.Errorf("register --token-file %q, want the Secret's file %q", got, want)
	}
	if mountPath(agent, "token") != "" {
		t.Errorf("the agent container mounts the spent token at %s", mountPath(agent, "token"))
	}
	assertNoTokenArgs(t, pod)
	if got := argAfter(register.Args, "--server"); got != "https://amp.example.com:8181" {
		t.Errorf("register --server %q", got)
	}
	if argAfter(register.Args, "--server-ca") != "" || argAfter(register.Args, "--cluster") != "" {
		t.Errorf("register args %v: --server-ca/--cluster without their values", register.Args)
	}
	// The enrolment runs once: a restart with credentials in the state
	// directory skips it (the token is single-use).
	script := strings.Join(register.Command, " ")
	if !strings.Contains(script, stateDir+"/cert.pem") || !strings.Contains(script, `exec amp agent register "$@"`) {
		t.Errorf("register command %q does not skip an enrolled agent", register.Command)
	}

	// The agent: in-cluster credentials, the default interval.
	if got := strings.Join(append(agent.Command, agent.Args...), " "); got != "amp agent --dir "+stateDir+" --interval 30s" {
		t.Errorf("agent runs %q", got)
	}

	assertHardened(t, pod)
	if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }) {
		t.Errorf("tolerations %+v: a taint the agent applies itself could evict it", pod.Tolerations)
	}
}

// TestAgentChartValues: every value an operator sets reaches the objects.
func TestAgentChartValues(t *testing.T) {
	const pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
	objs := objects(t, "amp-agent", values(t, `
image: {repository: registry.site.example/amp, tag: "1.2.3", pullPolicy: Always}
server:
  url: https://amp.central.example:443
  ca: {key: amp-ca.pem, pem: "`+strings.ReplaceAll(pem, "\n", `\n`)+`"}
token: {secretName: site-7-token, key: tok}
cluster: site-7
interval: 10s
state: {type: hostPath, hostPath: /srv/amp-agent}
metrics: {listen: ":9464"}
sealedSecrets: true
resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 256Mi}}
nodeSelector: {node-role.kubernetes.io/control-plane: ""}
`))
	if _, ok := objs["PersistentVolumeClaim/amp-agent-state"]; ok {
		t.Errorf("a claim is rendered although the state is on hostPath")
	}
	cm := get[*corev1.ConfigMap](t, objs, "ConfigMap/amp-agent-server-ca")
	if cm.Data["amp-ca.pem"] != pem {
		t.Errorf("server CA config map %v, want the PEM under amp-ca.pem", cm.Data)
	}
	d := get[*appsv1.Deployment](t, objs, "Deployment/amp-agent")
	pod := d.Spec.Template.Spec
	register := container(t, pod.InitContainers, "register")
	agent := container(t, pod.Containers, "agent")

	state := volume(t, pod, "state")
	if state.HostPath == nil || state.HostPath.Path != "/srv/amp-agent" {
		t.Errorf("state volume %+v, want hostPath /srv/amp-agent", state.VolumeSource)
	}
	ca := volume(t, pod, "server-ca")
	if ca.ConfigMap == nil || ca.ConfigMap.Name != cm.Name {
		t.Errorf("server-ca volume %+v, want config map %s", ca.VolumeSource, cm.Name)
	}
	if got, want := argAfter(register.Args, "--server-ca"), mountPath(register, "server-ca")+"/amp-ca.pem"; got != want {
		t.Errorf("--server-ca %q, want %q", got, want)
	}
	for f, want := range map[string]string{"--server": "https://amp.central.example:443", "--cluster": "site-7"} {
		if got := argAfter(register.Args, f); got != want {
			t.Errorf("register %s %q, want %q", f, got, want)
		}
	}
	tok := volume(t, pod, "token").Secret
	if tok == nil || tok.SecretName != "site-7-token" || tok.Items[0].Key != "tok" {
		t.Errorf("token volume %+v, want key tok of site-7-token", tok)
	}
	assertNoTokenArgs(t, pod)
	if rules := get[*rbacv1.ClusterRole](t, objs, "ClusterRole/amp-agent").Rules; len(rules) != len(applierRules)+1 ||
		!slices.Equal(rules[len(rules)-1].Resources, []string{"secrets"}) || slices.Contains(rules[len(rules)-1].Verbs, "watch") {
		t.Errorf("sealedSecrets: true: rules %+v, want the applier's and secrets (get, list, create, update, delete)", rules)
	}
	if argAfter(agent.Args, "--interval") != "10s" || argAfter(agent.Args, "--metrics-listen") != ":9464" {
		t.Errorf("agent args %v, want --interval 10s --metrics-listen :9464", agent.Args)
	}
	if len(agent.Ports) != 1 || agent.Ports[0].ContainerPort != 9464 {
		t.Errorf("agent ports %+v, want metrics 9464", agent.Ports)
	}
	for _, c := range []corev1.Container{register, agent} {
		if c.Image != "registry.site.example/amp:1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("%s image %s (%s)", c.Name, c.Image, c.ImagePullPolicy)
		}
		if q := c.Resources.Limits[corev1.ResourceMemory]; q.Cmp(resource.MustParse("256Mi")) != 0 {
			t.Errorf("%s memory limit %s, want 256Mi", c.Name, q.String())
		}
	}
	if _, ok := pod.NodeSelector["node-role.kubernetes.io/control-plane"]; !ok {
		t.Errorf("node selector %v", pod.NodeSelector)
	}
	assertHardened(t, pod)

	// A claim the operator made instead of the chart's; AMP's CA from a
	// config map the operator made.
	objs = objects(t, "amp-agent", values(t, `
state: {existingClaim: agent-state}
server: {ca: {configMap: amp-ca}}
`))
	if _, ok := objs["PersistentVolumeClaim/amp-agent-state"]; ok {
		t.Errorf("a claim is rendered although existingClaim names one")
	}
	if _, ok := objs["ConfigMap/amp-agent-server-ca"]; ok {
		t.Errorf("a CA config map is rendered although configMap names one")
	}
	pod = get[*appsv1.Deployment](t, objs, "Deployment/amp-agent").Spec.Template.Spec
	if v := volume(t, pod, "state"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "agent-state" {
		t.Errorf("state volume %+v, want claim agent-state", v.VolumeSource)
	}
	if v := volume(t, pod, "server-ca"); v.ConfigMap == nil || v.ConfigMap.Name != "amp-ca" {
		t.Errorf("server-ca volume %+v, want config map amp-ca", v.VolumeSource)
	}
	if got := argAfter(container(t, pod.InitContainers, "register").Args, "--server-ca"); got != "/etc/amp-agent/server-ca/ca.crt" {
		t.Errorf("--server-ca %q", got)
	}
}

// TestAgentChartRefusesBadValues: a mistaken value is refused before
// anything is installed, naming the value.
func TestAgentChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{`server: {url: "http://amp.example.com"}`, "/server/url"},
		{`state: {type: emptyDir}`, "/state/type"},
		{`interval: soon`, "/interval"},
		{`token: {secretName: ""}`, "/token/secretName"},
		{`tokne: {secretName: x}`, "tokne"},
		{`metrics: {listen: "everywhere"}`, "/metrics/listen"},
	} {
		_, err := render(t, "amp-agent", "amp-agent", "amp-test", values(t, tc.values))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %s: error %v, want one naming %s", tc.values, err, tc.want)
		}
	}
}

func assertRules(t *testing.T, rules []rbacv1.PolicyRule) {
	t.Helper()
	if len(rules) != len(applierRules) {
		t.Fatalf("cluster role rules %+v, want exactly %+v", rules, applierRules)
	}
	for i, r := range rules {
		w := applierRules[i]
		if !slices.Equal(r.APIGroups, w.APIGroups) || !slices.Equal(r.Resources, w.Resources) || !slices.Equal(r.Verbs, w.Verbs) ||
			len(r.ResourceNames) != 0 || len(r.NonResourceURLs) != 0 {
			t.Errorf("cluster role rule %d = %+v, want %+v", i, r, w)
		}
	}
}

// assertNoTokenArgs: the registration token never appears on a command
// line (where ps, the pod spec and audit logs would show it) nor in the
// environment: only a file of the Secret names it.
func assertNoTokenArgs(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, a := range append(slices.Clone(c.Command), c.Args...) {
			if a == "--token" || strings.HasPrefix(a, "--token=") {
				t.Errorf("%s passes the token as an argument: %v", c.Name, c.Args)
			}
		}
		if len(c.Env) != 0 || len(c.EnvFrom) != 0 {
			t.Errorf("%s has environment %v %v", c.Name, c.Env, c.EnvFrom)
		}
	}
}

// assertHardened: non-root, no privilege escalation, read-only root, no
// capabilities, the runtime's seccomp profile.
func assertHardened(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want runAsNonRoot and a non-zero user", psc)
	}
	if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
		t.Errorf("pod seccomp profile %+v, want RuntimeDefault", psc.SeccompProfile)
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
			(sc.Privileged != nil && *sc.Privileged) {
			t.Errorf("container %s security context %+v is not hardened", c.Name, sc)
		}
	}
}

func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func volume(t *testing.T, pod corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %s", name)
	return corev1.Volume{}
}

func mountPath(c corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

// argAfter returns the argument after name in args, "" if name is absent.
func argAfter(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
