// Package sealed is the edge agent's applier of kind "sealed-secret"
// (docs/lifecycle.md, "Sealed secrets"): for sites without the
// sealed-secrets controller, it unseals a SealedSecret with the cluster's
// private keys, which arrive with it over the link, and keeps the Secret
// it holds in the site's Kubernetes API. The keys are held in memory and
// in the agent's state directory (desired.json, 0600) only; values are
// never logged nor reported, only which keys changed.
//
// It imports the agent's registry, the SealedSecret format (internal/seal)
// and client-go.
package sealed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/amp-edge/amp/internal/seal"
)

// Labels of the Secrets AMP's agent unsealed: only those are updated or
// deleted by it.
const (
	// SecretLabel names the sealed-secret entry a Secret came from.
	SecretLabel    = "amp.edge/sealed-secret"
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByAMP   = "amp"
	fieldManager   = "amp-agent"
)

// Applier applies kind "sealed-secret".
type Applier struct{ client kubernetes.Interface }

// New is the applier on client (the site's Kubernetes API).
func New(client kubernetes.Interface) *Applier { return &Applier{client: client} }

// decode reads and checks a spec, returning the SealedSecret and its keys.
func decode(raw json.RawMessage) (*seal.ObjectSpec, error) {
	var spec seal.ObjectSpec
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("a sealed-secret's spec is {sealedSecret, keys}: %w", err)
	}
	if err := spec.SealedSecret.Check(); err != nil {
		return nil, fmt.Errorf("sealedSecret.%w", err)
	}
	if len(spec.Keys) == 0 {
		return nil, errors.New("keys: AMP holds no sealing key for this cluster (GET /clusters/{name}/seal-key makes the first)")
	}
	return &spec, nil
}

// Validate checks the spec's shape and that the keys are RSA private keys.
func (a *Applier) Validate(name string, raw json.RawMessage) error {
	spec, err := decode(raw)
	if err != nil {
		return err
	}
	_, err = seal.PrivateKeysFromPEM(spec.Keys)
	return err
}

// Apply unseals the SealedSecret and makes the site hold its Secret,
// labelled as AMP's, then reads it back. A Secret of that name that AMP
// did not make (or that another sealed-secret made) is left alone and
// the object fails, naming it.
func (a *Applier) Apply(ctx context.Context, name string, raw json.RawMessage) ([]string, error) {
	spec, err := decode(raw)
	if err != nil {
		return nil, err
	}
	keys, err := seal.PrivateKeysFromPEM(spec.Keys)
	if err != nil {
		return nil, err
	}
	s, err := spec.SealedSecret.Unseal(keys)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	want := secretOf(name, s)
	ref := want.Namespace + "/" + want.Name
	secrets := a.client.CoreV1().Secrets(want.Namespace)
	have, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	var changed []string
	switch {
	case apierrors.IsNotFound(err):
		if _, err := secrets.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
			return nil, fmt.Errorf("create secret %s: %w", ref, err)
		}
		changed = append(changed, "create secret "+ref)
	case err != nil:
		return nil, fmt.Errorf("read secret %s: %w", ref, err)
	case have.Labels[SecretLabel] != name:
		return nil, fmt.Errorf("secret %s exists and was not made from sealed-secret %q (label %s is %q): AMP leaves it alone", ref, name, SecretLabel, have.Labels[SecretLabel])
	default:
		diff := differences(have, want)
		if len(diff) == 0 {
			break
		}
		if have.Immutable != nil && *have.Immutable {
			// An immutable Secret cannot change: replace it.
			if err := secrets.Delete(ctx, want.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &have.UID}}); err != nil {
				return nil, fmt.Errorf("replace immutable secret %s: %w", ref, err)
			}
			if _, err := secrets.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
				return nil, fmt.Errorf("replace immutable secret %s: %w", ref, err)
			}
		} else {
			want.ResourceVersion = have.ResourceVersion
			if _, err := secrets.Update(ctx, want, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
				return nil, fmt.Errorf("update secret %s: %w", ref, err)
			}
		}
		changed = append(changed, "update secret "+ref+": "+strings.Join(diff, ", "))
	}
	got, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return changed, fmt.Errorf("read back secret %s: %w", ref, err)
	}
	if diff := differences(got, want); len(diff) > 0 {
		return changed, fmt.Errorf("secret %s read back differs: %s", ref, strings.Join(diff, ", "))
	}
	return changed, nil
}

// secretOf is the Secret the site should hold for sealed-secret name.
func secretOf(name string, s *seal.Secret) *corev1.Secret {
	labels := maps.Clone(s.Metadata.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[managedByLabel] = managedByAMP
	labels[SecretLabel] = name
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.Metadata.Name, Namespace: s.Metadata.Namespace, Labels: labels, Annotations: s.Metadata.Annotations},
		Type:       corev1.SecretType(s.Type),
		Immutable:  s.Immutable,
		Data:       s.Data,
	}
}

// differences names what differs between the site's Secret and the
// wanted one: keys of data (never values), type, labels, annotations.
func differences(have, want *corev1.Secret) []string {
	var out []string
	keys := map[string]bool{}
	for k := range have.Data {
		keys[k] = true
	}
	for k := range want.Data {
		keys[k] = true
	}
	var dk []string
	for k := range keys {
		if !bytes.Equal(have.Data[k], want.Data[k]) || (have.Data[k] == nil) != (want.Data[k] == nil) {
			dk = append(dk, k)
		}
	}
	sort.Strings(dk)
	if len(dk) > 0 {
		out = append(out, "data "+strings.Join(dk, " "))
	}
	if have.Type != want.Type {
		out = append(out, fmt.Sprintf("type %s -> %s", have.Type, want.Type))
	}
	for k, v := range want.Labels {
		if have.Labels[k] != v {
			out = append(out, "label "+k)
		}
	}
	for k, v := range want.Annotations {
		if have.Annotations[k] != v {
			out = append(out, "annotation "+k)
		}
	}
	return out
}

// Prune deletes the Secrets AMP's agent unsealed whose sealed-secret is no
// longer declared.
func (a *Applier) Prune(ctx context.Context, keep map[string]bool) ([]string, error) {
	list, err := a.client.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: SecretLabel})
	if err != nil {
		return nil, fmt.Errorf("list the secrets AMP unsealed: %w", err)
	}
	var removed []string
	for _, s := range list.Items {
		if keep[s.Labels[SecretLabel]] || s.Labels[managedByLabel] != managedByAMP {
			continue
		}
		err := a.client.CoreV1().Secrets(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return removed, fmt.Errorf("delete secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		removed = append(removed, s.Namespace+"/"+s.Name)
	}
	return removed, nil
}
