package webhook

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	admissionclient "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	"k8s.io/utils/ptr"
)

// Registration is the cluster's ValidatingWebhookConfiguration for the
// intake webhook.
type Registration struct {
	// Name of the ValidatingWebhookConfiguration (and its one webhook's
	// prefix).
	Name string
	// URL and CABundle: the serving leader's (Server.URL, Server.CABundle).
	URL      string
	CABundle []byte
	// SchedulerNames limit the calls to pods of these scheduler names
	// (a CEL match condition), so other pods never wait on the webhook.
	SchedulerNames []string
	// TimeoutSeconds bounds how long the API server waits (1-30).
	TimeoutSeconds int32
}

// Register creates or replaces the configuration so that the API server
// calls reg.URL; the leader calls it when it takes the Lease.
func Register(ctx context.Context, c admissionclient.ValidatingWebhookConfigurationInterface, reg Registration) error {
	return createOrReplace(ctx, c, "ValidatingWebhookConfiguration", reg.object())
}

// configClient is what createOrReplace needs of a typed client of
// webhook configurations (validating and mutating alike).
type configClient[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// createOrReplace creates want, or replaces the object of its name: the
// leader's configuration always wins over an earlier leader's.
func createOrReplace[T metav1.Object](ctx context.Context, c configClient[T], kind string, want T) error {
	name := want.GetName()
	cur, err := c.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create %s %s: %w", kind, name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get %s %s: %w", kind, name, err)
	}
	want.SetResourceVersion(cur.GetResourceVersion())
	if _, err := c.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update %s %s: %w", kind, name, err)
	}
	return nil
}

func (reg Registration) object() *admissionregistrationv1.ValidatingWebhookConfiguration {
	quoted := make([]string, len(reg.SchedulerNames))
	for i, n := range reg.SchedulerNames {
		quoted[i] = "'" + strings.ReplaceAll(n, "'", "\\'") + "'"
	}
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: configMeta(reg.Name),
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "pods." + reg.Name + ".k8s1m.io",
			ClientConfig: clientConfig(reg.URL, reg.CABundle),
			Rules:        onCreate("pods", admissionregistrationv1.NamespacedScope),
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name:       "distscheduler-pods",
				Expression: "has(object.spec.schedulerName) && object.spec.schedulerName in [" + strings.Join(quoted, ", ") + "] && !has(object.spec.nodeName)",
			}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNoneOnDryRun),
			TimeoutSeconds:          timeoutSeconds(reg.TimeoutSeconds),
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
}

// What both webhook configurations share.

// configMeta names a webhook configuration and marks it as distscheduler's.
func configMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "distscheduler"}}
}

func clientConfig(url string, caBundle []byte) admissionregistrationv1.WebhookClientConfig {
	return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
}

// onCreate matches the creation of a core v1 resource.
func onCreate(resource string, scope admissionregistrationv1.ScopeType) []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{resource},
			Scope: ptr.To(scope),
		},
	}}
}

// timeoutSeconds is t if the API server accepts it (1-30 s), else 2 s.
func timeoutSeconds(t int32) *int32 {
	if t < 1 || t > 30 {
		t = 2
	}
	return &t
}
