package kubelet_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/amp-edge/amp/internal/testenv/kube"
	"github.com/amp-edge/amp/internal/testenv/kubelet"
)

// TestStandIn: nodes registered Ready; a pod bound and reported Running
// and Ready; one whose image is tagged crashloop reported in
// CrashLoopBackOff, not ready; a pod that is not restarted Succeeds (or
// Fails with a crash-looping image); a bound pod deleted gracefully is
// gone once the stand-in confirms it.
func TestStandIn(t *testing.T) {
	c := kube.Start(t)
	cs := c.Client()
	kubelet.Start(t, cs, "node-1", "node-2")
	ctx := context.Background()
	n, err := cs.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	if err != nil || len(n.Status.Conditions) == 0 || n.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Fatalf("node-1: %v %v", n, err)
	}
	pod := func(name, image string, restart corev1.RestartPolicy) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{{Name: "c", Image: image}}}}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod("good", "example.org/web:1.0.0", corev1.RestartPolicyAlways)
	pod("bad", "registry:5000/web:"+kubelet.CrashLoopTag, corev1.RestartPolicyAlways)
	pod("job-ok", "example.org/task:1", corev1.RestartPolicyNever)
	pod("job-bad", "example.org/task:"+kubelet.CrashLoopTag, corev1.RestartPolicyOnFailure)
	ready := func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	for _, want := range []struct {
		name  string
		phase corev1.PodPhase
		ready bool
		wait  string
	}{
		{"good", corev1.PodRunning, true, ""},
		{"bad", corev1.PodRunning, false, "CrashLoopBackOff"},
		{"job-ok", corev1.PodSucceeded, false, ""},
		{"job-bad", corev1.PodFailed, false, ""},
	} {
		var p *corev1.Pod
		deadline := time.Now().Add(time.Minute)
		for {
			p, err = cs.CoreV1().Pods("default").Get(ctx, want.name, metav1.GetOptions{})
			if err == nil && p.Status.Phase == want.phase && len(p.Status.ContainerStatuses) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s: %v, phase %q", want.name, err, p.Status.Phase)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if p.Spec.NodeName != "node-1" && p.Spec.NodeName != "node-2" {
			t.Errorf("pod %s bound to %q", want.name, p.Spec.NodeName)
		}
		if ready(p) != want.ready {
			t.Errorf("pod %s ready %v, want %v", want.name, ready(p), want.ready)
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		if (want.wait == "") != (w == nil) || (w != nil && w.Reason != want.wait) {
			t.Errorf("pod %s waiting %+v, want %q", want.name, w, want.wait)
		}
	}
	// Deleted with an hour's grace: only the stand-in, as a kubelet whose
	// containers stopped, removes it before then.
	hour := int64(3600)
	if err := cs.CoreV1().Pods("default").Delete(ctx, "good", metav1.DeleteOptions{GracePeriodSeconds: &hour}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "good", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted pod is still there: %v", err)
		}
	}
}
