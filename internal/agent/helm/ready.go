package helm

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	helmkube "helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/resource"
)

// readiness is the verdict on a release's resources.
type readiness struct {
	ready     bool
	crashLoop bool   // a pod of the release crash-loops: waiting will not help
	reason    string // what is not ready, e.g. "deployment web: 0/2 available: pod web-x crash-looping"
}

// readiness judges the release's resources with Helm's ReadyChecker (the
// rules `helm --wait` applies: Deployments, StatefulSets, DaemonSets,
// Jobs, pods, services, volume claims), and says why one is not ready.
// With wait, it reads again every Poll until ready, a crash loop, or the
// deadline.
func (a *Applier) readiness(ctx context.Context, cfg *action.Configuration, rel *release.Release, wait bool, deadline time.Time) (readiness, error) {
	ctx, span := tracer.Start(ctx, "helm.readiness")
	defer span.End()
	resources, err := cfg.KubeClient.Build(bytes.NewBufferString(rel.Manifest), false)
	if err != nil {
		return readiness{}, fmt.Errorf("read the release's manifest: %w", err)
	}
	checker := helmkube.NewReadyChecker(a.client, nil, helmkube.PausedAsReady(true), helmkube.CheckJobs(true))
	for {
		r, err := a.judge(ctx, checker, resources)
		if err != nil || r.ready || r.crashLoop || !wait || !time.Now().Before(deadline) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(a.o.Poll):
		}
	}
}

func (a *Applier) judge(ctx context.Context, checker helmkube.ReadyChecker, resources helmkube.ResourceList) (readiness, error) {
	var notReady []string
	crash := false
	for _, info := range resources {
		ok, err := checker.IsReady(ctx, info)
		if err != nil {
			return readiness{}, fmt.Errorf("read %s %s: %w", strings.ToLower(info.Mapping.GroupVersionKind.Kind), info.Name, err)
		}
		if ok {
			continue
		}
		why, crashing, err := a.why(ctx, info)
		if err != nil {
			return readiness{}, err
		}
		crash = crash || crashing
		notReady = append(notReady, why)
	}
	sort.Strings(notReady)
	return readiness{ready: len(notReady) == 0, crashLoop: crash, reason: strings.Join(notReady, "; ")}, nil
}

// why says what of a resource is not ready: its counts and its pods'
// troubles.
func (a *Applier) why(ctx context.Context, info *resource.Info) (string, bool, error) {
	kind := strings.ToLower(info.Mapping.GroupVersionKind.Kind)
	head := kind + " " + info.Name
	var selector *metav1.LabelSelector
	// current tells the pods of the workload's current template: only
	// their crash loop is final (an old one's pods may still crash while
	// a rollback replaces them). nil: every pod counts.
	var current func(*corev1.Pod) bool
	var err error
	switch helmkube.AsVersioned(info).(type) {
	case *appsv1.Deployment:
		var d *appsv1.Deployment
		d, err = a.client.AppsV1().Deployments(info.Namespace).Get(ctx, info.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		head = fmt.Sprintf("%s: %d/%d available", head, d.Status.AvailableReplicas, replicas(d.Spec.Replicas))
		if d.Status.UpdatedReplicas < replicas(d.Spec.Replicas) {
			head += fmt.Sprintf(", %d updated", d.Status.UpdatedReplicas)
		}
		selector = d.Spec.Selector
		current, err = a.currentReplicaSet(ctx, d)
		if err != nil {
			return "", false, err
		}
	case *appsv1.StatefulSet:
		s, err := a.client.AppsV1().StatefulSets(info.Namespace).Get(ctx, info.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		head = fmt.Sprintf("%s: %d/%d ready", head, s.Status.ReadyReplicas, replicas(s.Spec.Replicas))
		selector = s.Spec.Selector
		if s.Status.ObservedGeneration >= s.Generation && s.Status.UpdateRevision != "" {
			current = func(p *corev1.Pod) bool {
				return p.Labels[appsv1.ControllerRevisionHashLabelKey] == s.Status.UpdateRevision
			}
		}
	case *appsv1.DaemonSet:
		s, err := a.client.AppsV1().DaemonSets(info.Namespace).Get(ctx, info.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		head = fmt.Sprintf("%s: %d/%d ready", head, s.Status.NumberReady, s.Status.DesiredNumberScheduled)
		selector = s.Spec.Selector
	case *batchv1.Job:
		j, err := a.client.BatchV1().Jobs(info.Namespace).Get(ctx, info.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		head = fmt.Sprintf("%s: %d succeeded, %d failed", head, j.Status.Succeeded, j.Status.Failed)
		selector = j.Spec.Selector
	case *corev1.Pod:
		p, err := a.client.CoreV1().Pods(info.Namespace).Get(ctx, info.Name, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		trouble, crashing := podTrouble(p)
		if trouble == "" {
			trouble = "not ready (" + string(p.Status.Phase) + ")"
		}
		return head + ": " + trouble, crashing, nil
	default:
		return head + ": not ready", false, nil
	}
	if selector == nil {
		return head, false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return head, false, nil
	}
	pods, err := a.client.CoreV1().Pods(info.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", false, err
	}
	var troubles []string
	crash := false
	for i := range pods.Items {
		p := &pods.Items[i]
		if t, c := podTrouble(p); t != "" {
			troubles = append(troubles, "pod "+p.Name+" "+t)
			crash = crash || (c && (current == nil || current(p)))
		}
	}
	sort.Strings(troubles)
	if len(troubles) > 3 {
		troubles = append(troubles[:3], fmt.Sprintf("and %d more", len(troubles)-3))
	}
	if len(troubles) > 0 {
		head += ": " + strings.Join(troubles, ", ")
	}
	return head, crash, nil
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// podTrouble names what keeps a pod from running (empty: nothing known);
// crash-looping says waiting for it will not help.
func podTrouble(p *corev1.Pod) (string, bool) {
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "CrashLoopBackOff":
			return fmt.Sprintf("crash-looping (container %s restarted %d times)", cs.Name, cs.RestartCount), true
		case "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
			return fmt.Sprintf("%s (container %s: %s)", w.Reason, cs.Name, w.Message), false
		}
	}
	if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
		return "not scheduled", false
	}
	return "", false
}

// currentReplicaSet tells the pods of the Deployment's current
// ReplicaSet (the one of its revision), once the controller has seen the
// Deployment's latest change; before that, no pod is known current.
func (a *Applier) currentReplicaSet(ctx context.Context, d *appsv1.Deployment) (func(*corev1.Pod) bool, error) {
	const revision = "deployment.kubernetes.io/revision"
	if d.Status.ObservedGeneration < d.Generation || d.Annotations[revision] == "" {
		return func(*corev1.Pod) bool { return false }, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, nil
	}
	rss, err := a.client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	for _, rs := range rss.Items {
		if metav1.IsControlledBy(&rs, d) && rs.Annotations[revision] == d.Annotations[revision] {
			hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
			return func(p *corev1.Pod) bool { return p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == hash }, nil
		}
	}
	return func(*corev1.Pod) bool { return false }, nil
}
