// Package kubelet is a stand-in for the kubelets (and the scheduler) of a
// test site, so that workloads a real kube-controller-manager turns into
// pods (internal/testenv/kube StartControllers) come up as Kubernetes
// reports them, without containers.
//
// What it stands in for, through the real API only (Node and Pod objects,
// the binding and status subresources):
//   - node registration: its nodes exist, Ready, with a heartbeat;
//   - the scheduler: every pod without a node is bound to one of its nodes
//     (in turn; no resources, affinities or taints are considered);
//   - the kubelet's status reports: a bound pod is Running with every
//     container started and Ready — or, when one of its images has the tag
//     named by CrashLoopTag (e.g. "web:crashloop"), Running with that
//     container waiting in CrashLoopBackOff, restarted, not Ready, as a
//     kubelet reports a container that exits at once; a pod that is not
//     restarted (a Job's, a Helm test's) Succeeds, or Fails when one of
//     its images has that tag;
//   - graceful deletion: a pod marked for deletion is removed at once, as
//     a kubelet does once its containers stopped.
//
// What it does not stand in for: no container runs (no image is pulled,
// no probe, command, volume, network or resource limit is honoured), no
// eviction, no node lease, no static pods. It is imported only by tests.
package kubelet

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// CrashLoopTag is the image tag whose containers crash-loop.
const CrashLoopTag = "crashloop"

// Heartbeat is how often the nodes' Ready condition is renewed.
const Heartbeat = 10 * time.Second

// Kubelet is the running stand-in.
type Kubelet struct {
	client kubernetes.Interface
	nodes  []string

	mu   sync.Mutex
	next int
}

// Start registers the nodes (Ready) and runs the stand-in until the test
// ends.
func Start(t testing.TB, client kubernetes.Interface, nodes ...string) *Kubelet {
	t.Helper()
	if len(nodes) == 0 {
		t.Fatal("kubelet: no node to run pods on")
	}
	k := &Kubelet{client: client, nodes: nodes}
	ctx, cancel := context.WithCancel(context.Background())
	for _, n := range nodes {
		if err := k.register(ctx, n); err != nil {
			cancel()
			t.Fatalf("kubelet: register node %s: %v", n, err)
		}
	}
	f := informers.NewSharedInformerFactory(client, 0)
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			q.Add(key)
		}
	}
	pods := f.Core().V1().Pods()
	_, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			key, quit := q.Get()
			if quit {
				return
			}
			if err := k.sync(ctx, pods.Lister(), key); err != nil && ctx.Err() == nil {
				q.AddRateLimited(key)
			} else {
				q.Forget(key)
			}
			q.Done(key)
		}
	}()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(Heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for _, n := range nodes {
					_ = k.heartbeat(ctx, n)
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		q.ShutDown()
		wg.Wait()
		f.Shutdown()
	})
	return k
}

func (k *Kubelet) register(ctx context.Context, name string) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if _, err := k.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return k.heartbeat(ctx, name)
}

// heartbeat reports the node Ready now.
func (k *Kubelet) heartbeat(ctx context.Context, name string) error {
	n, err := k.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet stand-in", LastHeartbeatTime: now, LastTransitionTime: now}
	found := false
	for i, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				cond.LastTransitionTime = c.LastTransitionTime
			}
			n.Status.Conditions[i], found = cond, true
		}
	}
	if !found {
		n.Status.Conditions = append(n.Status.Conditions, cond)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}}
	n.Status.NodeInfo.KubeletVersion = "v1.35.4"
	_, err = k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

func (k *Kubelet) pickNode() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := k.nodes[k.next%len(k.nodes)]
	k.next++
	return n
}

func (k *Kubelet) ours(node string) bool {
	for _, n := range k.nodes {
		if n == node {
			return true
		}
	}
	return false
}

// sync brings one pod one step on: bind it, finish its deletion, or
// report its status.
func (k *Kubelet) sync(ctx context.Context, lister corelisters.PodLister, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pods := k.client.CoreV1().Pods(ns)
	switch {
	case pod.DeletionTimestamp != nil:
		if pod.Spec.NodeName == "" || !k.ours(pod.Spec.NodeName) {
			return nil
		}
		zero := int64(0)
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName == "":
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: k.pickNode()}}
		err := pods.Bind(ctx, b, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case !k.ours(pod.Spec.NodeName) || reported(pod):
		return nil
	}
	st := status(pod)
	p := pod.DeepCopy()
	p.Status = st
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or changed: the informer brings it again
	}
	return err
}

// reported: the pod already carries the status this stand-in gives it.
func reported(pod *corev1.Pod) bool {
	return pod.Status.StartTime != nil && len(pod.Status.ContainerStatuses) == len(pod.Spec.Containers)
}

// crashing reports whether an image's tag is CrashLoopTag.
func crashing(image string) bool {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	return i > strings.LastIndex(image, "/") && image[i+1:] == CrashLoopTag
}

// status is what a kubelet would report of the pod once its containers
// started (or one of them began to crash-loop).
func status(pod *corev1.Pod) corev1.PodStatus {
	now := metav1.Now()
	st := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &now, HostIP: "127.0.0.1", PodIP: "10.244.0.1",
		QOSClass: corev1.PodQOSBestEffort}
	ready := true
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "stand-in://" + c.Image,
			ContainerID: fmt.Sprintf("stand-in://%s/%s", pod.UID, c.Name)}
		if crashing(c.Image) {
			ready = false
			cs.RestartCount = 3
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off 40s restarting failed container=%s pod=%s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
				StartedAt: now, FinishedAt: now}
		} else {
			started := true
			cs.Ready, cs.Started = true, &started
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyAlways && pod.Spec.RestartPolicy != "" {
		// A pod that is not restarted (a Job's, a Helm test's) ran to
		// completion: it succeeded, or failed when an image crashes.
		st.Phase = corev1.PodSucceeded
		if !ready {
			st.Phase = corev1.PodFailed
		}
		for i := range st.ContainerStatuses {
			cs := &st.ContainerStatuses[i]
			code, reason := int32(0), "Completed"
			if crashing(cs.Image) {
				code, reason = 1, "Error"
			}
			cs.Ready, cs.RestartCount, cs.LastTerminationState = false, 0, corev1.ContainerState{}
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, Reason: reason, StartedAt: now, FinishedAt: now}}
		}
		ready = false
	}
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s, reason = corev1.ConditionTrue, ""
		}
		return corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now}
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true, ""),
		cond(corev1.PodInitialized, true, ""),
		cond(corev1.ContainersReady, ready, "ContainersNotReady"),
		cond(corev1.PodReady, ready, "ContainersNotReady"),
	}
	return st
}
