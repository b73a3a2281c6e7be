package deploy

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestServeChartDefaults: one amp serve on the embedded store, its data
// directory on a volume of its own, HTTPS and gNMI behind a Service whose
// names the local CA's certificate carries, probed on /readyz and
// /healthz, non-root.
func TestServeChartDefaults(t *testing.T) {
	objs := objects(t, "amp-serve", nil)
	want := []string{"Service/amp-serve", "Service/amp-serve-headless", "ServiceAccount/amp-serve", "StatefulSet/amp-serve"}
	if got := keys(objs); !slices.Equal(got, want) {
		t.Errorf("rendered %v, want %v", got, want)
	}
	ss := get[*appsv1.StatefulSet](t, objs, "StatefulSet/amp-serve")
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", ss.Spec.Replicas)
	}
	headless := get[*corev1.Service](t, objs, "Service/amp-serve-headless")
	if ss.Spec.ServiceName != headless.Name || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("serviceName %q, headless service %s with clusterIP %q", ss.Spec.ServiceName, headless.Name, headless.Spec.ClusterIP)
	}
	pod := ss.Spec.Template.Spec
	amp := container(t, pod.Containers, "amp")

	// --data-dir is the claim template's volume.
	if len(ss.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("volume claim templates %+v, want one", ss.Spec.VolumeClaimTemplates)
	}
	claim := ss.Spec.VolumeClaimTemplates[0]
	if q := claim.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("data claim requests %s, want 1Gi", q.String())
	}
	if dir := argAfter(amp.Args, "--data-dir"); dir == "" || mountPath(amp, claim.Name) != dir {
		t.Errorf("--data-dir %q, claim %s mounted at %q", dir, claim.Name, mountPath(amp, claim.Name))
	}
	for f, want := range map[string]string{"--listen": ":8181", "--store": "bbolt", "--gnmi-listen": ":5150", "--log-level": "info"} {
		if got := argAfter(amp.Args, f); got != want {
			t.Errorf("amp serve %s %q, want %q", f, got, want)
		}
	}
	if amp.Args[0] != "serve" {
		t.Errorf("amp runs %v", amp.Args)
	}
	sans := flagValues(amp.Args, "--tls-san")
	if !slices.Equal(sans, []string{"amp-serve", "amp-serve.amp-test", "amp-serve.amp-test.svc", "amp-serve.amp-test.svc.cluster.local"}) {
		t.Errorf("--tls-san %v, want the Service's names", sans)
	}

	// The Service reaches the container's ports by name.
	svc := get[*corev1.Service](t, objs, "Service/amp-serve")
	ports := map[string]int32{}
	for _, p := range amp.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["https"] != 8181 || ports["gnmi"] != 5150 {
		t.Errorf("container ports %v", ports)
	}
	if len(svc.Spec.Ports) != 2 {
		t.Errorf("service ports %+v, want https and gnmi", svc.Spec.Ports)
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := ports[p.TargetPort.StrVal]; !ok || ports[p.TargetPort.StrVal] != p.Port {
			t.Errorf("service port %+v does not reach a container port of that number", p)
		}
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": amp.ReadinessProbe, "liveness": amp.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Scheme != corev1.URISchemeHTTPS ||
			(probe.HTTPGet.Path != "/readyz" && probe.HTTPGet.Path != "/healthz") {
			t.Errorf("%s probe %+v, want HTTPS /readyz or /healthz", name, probe)
		}
	}
	if amp.ReadinessProbe != nil && amp.ReadinessProbe.HTTPGet != nil && amp.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe on %s, want /readyz", amp.ReadinessProbe.HTTPGet.Path)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("amp serve mounts a Kubernetes API token it never uses")
	}
	env := map[string]string{}
	for _, e := range amp.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["AMP_REPLICA_NAME"] != "metadata.name" {
		t.Errorf("env %v: replicas are not named after their pods", amp.Env)
	}
	assertHardened(t, pod)
}

// TestServeChartValues: replicas on etcd with its CA, the operator's TLS
// certificate, no gNMI, extra flags.
func TestServeChartValues(t *testing.T) {
	objs := objects(t, "amp-serve", values(t, `
replicas: 3
store: "etcds://etcd-0.etcd:2379,etcd-1.etcd:2379/amp/"
etcdCA: {secretName: etcd-ca}
tls: {secretName: amp-tls}
service: {type: LoadBalancer, restPort: 443, gnmiPort: 0}
persistence: {size: 5Gi, storageClassName: fast}
logLevel: debug
extraArgs: ["--oidc-issuer", "https://idp.example.com/realms/amp"]
`))
	ss := get[*appsv1.StatefulSet](t, objs, "StatefulSet/amp-serve")
	if *ss.Spec.Replicas != 3 {
		t.Errorf("replicas %d, want 3", *ss.Spec.Replicas)
	}
	claim := ss.Spec.VolumeClaimTemplates[0]
	if q := claim.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("5Gi")) != 0 ||
		claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != "fast" {
		t.Errorf("data claim %+v", claim.Spec)
	}
	pod := ss.Spec.Template.Spec
	amp := container(t, pod.Containers, "amp")
	want := map[string]string{
		"--store": "etcds://etcd-0.etcd:2379,etcd-1.etcd:2379/amp/", "--listen": ":443",
		"--tls-cert": mountPath(amp, "tls") + "/tls.crt", "--tls-key": mountPath(amp, "tls") + "/tls.key",
		"--etcd-ca": mountPath(amp, "etcd-ca") + "/ca.crt", "--log-level": "debug",
		"--oidc-issuer": "https://idp.example.com/realms/amp",
	}
	for f, w := range want {
		if got := argAfter(amp.Args, f); got != w {
			t.Errorf("amp serve %s %q, want %q", f, got, w)
		}
	}
	if mountPath(amp, "tls") == "" || mountPath(amp, "etcd-ca") == "" {
		t.Errorf("mounts %+v, want the tls and etcd-ca secrets", amp.VolumeMounts)
	}
	if v := volume(t, pod, "tls"); v.Secret == nil || v.Secret.SecretName != "amp-tls" {
		t.Errorf("tls volume %+v", v.VolumeSource)
	}
	if v := volume(t, pod, "etcd-ca"); v.Secret == nil || v.Secret.SecretName != "etcd-ca" {
		t.Errorf("etcd-ca volume %+v", v.VolumeSource)
	}
	if slices.Contains(amp.Args, "--tls-san") || slices.Contains(amp.Args, "--gnmi-listen") {
		t.Errorf("args %v: --tls-san with the operator's certificate, or gNMI although disabled", amp.Args)
	}
	svc := get[*corev1.Service](t, objs, "Service/amp-serve")
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 {
		t.Errorf("service %+v, want one LoadBalancer port 443", svc.Spec)
	}
}

// TestServeChartRefusesBadValues: several replicas on the embedded store
// would each have their own configuration; an etcd CA without TLS to etcd
// would be ignored. Both are refused naming the value.
func TestServeChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ values, want string }{
		{`replicas: 2`, "/replicas"},
		{`etcdCA: {secretName: etcd-ca}`, "/etcdCA/secretName"},
		{`store: postgres://db`, "/store"},
		{`replicas: 0`, "/replicas"},
		{`service: {restPort: 70000}`, "/service/restPort"},
	} {
		_, err := render(t, "amp-serve", "amp-serve", "amp-test", values(t, tc.values))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("values %s: error %v, want one naming %s", tc.values, err, tc.want)
		}
	}
}

// flagValues returns the arguments after each occurrence of name.
func flagValues(args []string, name string) []string {
	var out []string
	for i, a := range args {
		if a == name && i+1 < len(args) {
			out = append(out, args[i+1])
		}
	}
	return out
}
