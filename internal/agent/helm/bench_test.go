package helm_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/amp-edge/amp/internal/agent/apply"
	"github.com/amp-edge/amp/internal/agent/helm"
	"github.com/amp-edge/amp/internal/edge/wire"
	"github.com/amp-edge/amp/internal/testenv/kube"
)

// BenchmarkHelmApplier measures the per-release overhead of AMP's Helm
// applier against a bare Helm SDK install of the same chart on the same
// kube-apiserver, in the same run (issue 13's second figure: at most
// 1.2×). Each iteration installs one release each way, in alternating
// order, then uninstalls both off the clock. AMP's applier does what
// a bare install does plus what the agent needs: the chart from its
// cache with its digest checked, the release's history (install,
// upgrade or rollback?), reading the release back, and one readiness
// check of its objects. The chart is the tests' web chart without its
// Deployment (a ConfigMap), so readiness is immediate and the figure is
// the applier's own cost, not the controllers'.
//
//	go test -run '^$' -bench HelmApplier -benchtime 20x ./internal/agent/helm
func BenchmarkHelmApplier(b *testing.B) {
	c := kube.Start(b)
	src := &charts{}
	ref := src.add(b, "1.0.0", withoutWorkloads)
	a, err := helm.New(helm.Options{Config: c.RESTConfig(), Charts: src, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	reg := apply.NewRegistry()
	a.Register(reg)

	// The bare SDK: an action configuration as the helm CLI makes one,
	// from the kubeconfig, made once.
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &c.Kubeconfig
	ns, cacheDir := "bench", b.TempDir()
	flags.Namespace, flags.CacheDir = &ns, &cacheDir
	// The client's rate limits as the applier's (the kubeconfig's own
	// default, 5 requests a second, would time the limiter, not Helm).
	flags.WrapConfigFn = func(rc *rest.Config) *rest.Config {
		ac := c.RESTConfig()
		rc.QPS, rc.Burst = ac.QPS, ac.Burst
		return rc
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", func(string, ...any) {}); err != nil {
		b.Fatal(err)
	}
	archive, _ := src.Chart(context.Background(), ref.Digest)
	bareInstall := func(name string) {
		ch, err := loader.LoadArchive(strings.NewReader(string(archive)))
		if err != nil {
			b.Fatal(err)
		}
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.CreateNamespace = name, ns, true
		if _, err := in.RunWithContext(context.Background(), ch, map[string]any{}); err != nil {
			b.Fatal(err)
		}
	}
	ampInstall := func(name string) {
		o := object(b, name, wire.HelmRelease{Namespace: ns, Bundle: "bench", Version: "1", Chart: ref})
		if out := reg.Apply(context.Background(), o); out.Status.State != wire.StateApplied {
			b.Fatalf("%s: %s", out.Status.State, out.Status.Message)
		}
	}
	// Warm both paths (discovery, the namespace) off the clock.
	bareInstall("warm-bare")
	ampInstall("warm-amp")

	var bare, amp time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		first, second := bareInstall, ampInstall
		firstD, secondD := &bare, &amp
		if i%2 == 1 {
			first, second, firstD, secondD = ampInstall, bareInstall, &amp, &bare
		}
		t0 := time.Now()
		first(fmt.Sprintf("r%d-a", i))
		t1 := time.Now()
		second(fmt.Sprintf("r%d-b", i))
		*firstD += t1.Sub(t0)
		*secondD += time.Since(t1)
		b.StopTimer()
		for _, name := range []string{fmt.Sprintf("r%d-a", i), fmt.Sprintf("r%d-b", i)} {
			if _, err := action.NewUninstall(cfg).Run(name); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(bare.Milliseconds())/n, "bare-ms/release")
	b.ReportMetric(float64(amp.Milliseconds())/n, "amp-ms/release")
	b.ReportMetric(float64(amp)/float64(bare), "amp/bare")
}

// withoutWorkloads drops the chart's Deployment and test: a ConfigMap is
// left, ready as soon as it exists.
func withoutWorkloads(ch *chart.Chart) {
	var keep []*chart.File
	for _, f := range ch.Templates {
		if f.Name == "templates/configmap.yaml" {
			keep = append(keep, f)
		}
	}
	ch.Templates = keep
}
