// Package pods creates and deletes the pods a scheduler benchmark schedules onto
// kwok nodes: bare pods (each one API create, bound by whichever scheduler
// schedulerName names) or Deployments whose replicas add up to the same count
// (for clusters that run a controller manager).
package pods

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/k8s1m/k8s1m/makenodes/bulk"
	"github.com/k8s1m/k8s1m/makenodes/kube"
	"github.com/k8s1m/k8s1m/makenodes/nodes"
	"github.com/k8s1m/k8s1m/makenodes/progress"
	"github.com/rs/zerolog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults.
const (
	DefaultPrefix    = "pod-"
	DefaultNamespace = metav1.NamespaceDefault
	// DefaultImage is never pulled (kwok runs nothing) but must be a valid name.
	DefaultImage = "registry.k8s.io/pause:3.10"
	// ManagedByLabel marks objects makenodes created.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "makenodes"
	// RunLabel holds the prefix, so the pods of one run can be selected.
	RunLabel = "makenodes.k8s1m.io/run"
)

// Config says which pods a run is about.
type Config struct {
	Prefix        string // pod (or Deployment) i is named Prefix + i
	Namespace     string
	Count         int // pods [Skip, Count); with Deployments, the total replicas
	Skip          int
	SchedulerName string            // "" means the default scheduler
	CPU, Memory   resource.Quantity // requests per pod; zero means none
	Image         string
	Labels        map[string]string
	// Deployments > 0 spreads Count replicas over that many Deployments instead
	// of creating bare pods. The pods then come from the controller manager.
	Deployments int
}

// Validate checks the config before any API call.
func (c Config) Validate() error {
	switch {
	case c.Count < 0:
		return fmt.Errorf("--count %d: must not be negative", c.Count)
	case c.Skip < 0 || c.Skip > c.Count:
		return fmt.Errorf("--skip %d: must be between 0 and --count (%d)", c.Skip, c.Count)
	case c.Deployments < 0:
		return fmt.Errorf("--deployments %d: must not be negative", c.Deployments)
	case c.Deployments > 0 && c.Skip > 0:
		return fmt.Errorf("--skip applies to bare pods only, not with --deployments")
	case c.CPU.Sign() < 0 || c.Memory.Sign() < 0:
		return fmt.Errorf("--cpu and --memory must not be negative")
	case c.Image == "":
		return fmt.Errorf("--image is empty")
	}
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		return fmt.Errorf("--namespace %q: %v", c.Namespace, errs)
	}
	if errs := validation.IsDNS1123Subdomain(c.Name(max(c.Count, c.Deployments))); len(errs) > 0 {
		return fmt.Errorf("--prefix %q: names would be invalid: %v", c.Prefix, errs)
	}
	if c.SchedulerName != "" {
		if errs := validation.IsDNS1123Subdomain(c.SchedulerName); len(errs) > 0 {
			return fmt.Errorf("--scheduler-name %q: %v", c.SchedulerName, errs)
		}
	}
	return nil
}

// Name is pod (or Deployment) i's name.
func (c Config) Name(i int) string { return c.Prefix + strconv.Itoa(i) }

func (c Config) labels() map[string]string {
	l := map[string]string{ManagedByLabel: managedBy}
	for k, v := range c.Labels {
		l[k] = v
	}
	// The run label's value is the prefix without characters labels forbid.
	l[RunLabel] = labelValue(c.Prefix)
	return l
}

// Spec is the pod spec of every pod: tolerates the fake-node taint (and the
// not-ready taints a node has before kwok initialises it), requests CPU and
// memory so the scheduler's fit and scoring plugins have work to do.
func (c Config) Spec() corev1.PodSpec {
	requests := corev1.ResourceList{}
	if c.CPU.Sign() > 0 {
		requests[corev1.ResourceCPU] = canonical(c.CPU)
	}
	if c.Memory.Sign() > 0 {
		requests[corev1.ResourceMemory] = canonical(c.Memory)
	}
	zero := int64(0)
	return corev1.PodSpec{
		SchedulerName:                 c.SchedulerName,
		TerminationGracePeriodSeconds: &zero,
		Tolerations: []corev1.Toleration{
			{Key: nodes.FakeTaint.Key, Operator: corev1.TolerationOpExists, Effect: nodes.FakeTaint.Effect},
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists},
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists},
		},
		Containers: []corev1.Container{{
			Name:      "app",
			Image:     c.Image,
			Resources: corev1.ResourceRequirements{Requests: requests},
		}},
	}
}

// canonical returns q with its canonical string form computed and kept in it,
// so encoding a pod does not format the quantity again every time.
func canonical(q resource.Quantity) resource.Quantity {
	_ = q.String()
	return q
}

// Build returns bare pod i.
func (c Config) Build(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: c.Name(i), Namespace: c.Namespace, Labels: c.labels()},
		Spec:       c.Spec(),
	}
}

// BuildDeployment returns Deployment d of c.Deployments, with its share of
// Count replicas (the first Count%Deployments get one more).
func (c Config) BuildDeployment(d int) *appsv1.Deployment {
	replicas := int32(c.Count / c.Deployments)
	if d < c.Count%c.Deployments {
		replicas++
	}
	labels := c.labels()
	labels["app"] = c.Name(d)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: c.Name(d), Namespace: c.Namespace, Labels: c.labels()},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": c.Name(d)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       c.Spec(),
			},
		},
	}
}

// Options are the run settings shared by Create and Delete.
type Options struct {
	Bulk     bulk.Config
	Progress *progress.Reporter
	NoList   bool // skip listing what exists; rely on AlreadyExists alone
}

// Create creates the pods (or Deployments) that do not exist yet.
func Create(ctx context.Context, log zerolog.Logger, clients *kube.Clients, cfg Config, opts Options) (bulk.Result, error) {
	if err := cfg.Validate(); err != nil {
		return bulk.Result{}, err
	}
	if err := clients.Warm(ctx); err != nil {
		return bulk.Result{}, err
	}
	if err := ensureNamespace(ctx, clients, cfg.Namespace); err != nil {
		return bulk.Result{}, err
	}
	gvr, first, last := kube.Pods, cfg.Skip, cfg.Count
	if cfg.Deployments > 0 {
		gvr, first, last = kube.Deployments, 0, cfg.Deployments
	}
	existing := map[string]struct{}{}
	if !opts.NoList {
		var err error
		if existing, err = kube.NamesWithPrefix(ctx, clients.Metadata, gvr, cfg.Namespace, cfg.Prefix); err != nil {
			return bulk.Result{}, err
		}
	}
	var (
		names   []string
		indices []int
	)
	for i := first; i < last; i++ {
		if _, ok := existing[cfg.Name(i)]; !ok {
			names = append(names, cfg.Name(i))
			indices = append(indices, i)
		}
	}
	already := last - first - len(names)
	log.Info().Str("resource", gvr.Resource).Str("namespace", cfg.Namespace).Int("count", cfg.Count).
		Int("existing", already).Int("to_create", len(names)).Msg("creating")
	b := newBodies(cfg)
	res := bulk.Run(ctx, log, opts.Bulk, names, already, func(ctx context.Context, w, i int) (bulk.Outcome, error) {
		body, err := b.body(indices[i])
		if err != nil {
			return bulk.Changed, err
		}
		err = clients.Create(ctx, w, gvr, cfg.Namespace, body)
		if apierrors.IsAlreadyExists(err) {
			return bulk.Already, nil
		}
		return bulk.Changed, err
	}, opts.Progress)
	return res, res.Err()
}

// ensureNamespace creates the namespace and its default ServiceAccount when
// missing. The ServiceAccount admission plugin rejects every pod of a namespace
// without one, and clusters that run no controller manager (a bare apiserver
// with kwok and a scheduler, as localcluster runs) never get one otherwise.
func ensureNamespace(ctx context.Context, clients *kube.Clients, namespace string) error {
	cs := clients.For(0)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account %s/default: %w", namespace, err)
	}
	return nil
}

// Delete deletes the Deployments and then the pods in namespace whose names
// start with prefix. Pods go with a zero grace period: there is no kubelet to
// wait for, and kwok would delete them at once anyway.
func Delete(ctx context.Context, log zerolog.Logger, clients *kube.Clients, namespace, prefix string, opts Options) (bulk.Result, error) {
	if prefix == "" {
		return bulk.Result{}, fmt.Errorf("--prefix is empty: refusing to delete every pod")
	}
	if err := clients.Warm(ctx); err != nil {
		return bulk.Result{}, err
	}
	var total bulk.Result
	for _, gvr := range []schema.GroupVersionResource{kube.Deployments, kube.Pods} {
		existing, err := kube.NamesWithPrefix(ctx, clients.Metadata, gvr, namespace, prefix)
		if err != nil {
			return total, err
		}
		names := make([]string, 0, len(existing))
		for n := range existing {
			names = append(names, n)
		}
		sort.Strings(names)
		log.Info().Str("resource", gvr.Resource).Str("namespace", namespace).Str("prefix", prefix).
			Int("to_delete", len(names)).Msg("deleting")
		if len(names) == 0 {
			continue
		}
		del, err := deleteOptions(gvr)
		if err != nil {
			return total, err
		}
		res := bulk.Run(ctx, log, opts.Bulk, names, 0, func(ctx context.Context, w, i int) (bulk.Outcome, error) {
			err := clients.Delete(ctx, w, gvr, namespace, names[i], del)
			if apierrors.IsNotFound(err) {
				return bulk.Already, nil
			}
			return bulk.Changed, err
		}, opts.Progress)
		total = add(total, res)
		if err := res.Err(); err != nil {
			return total, fmt.Errorf("delete %s: %w", gvr.Resource, err)
		}
	}
	return total, nil
}

// add sums two runs' results (deleting Deployments, then pods).
func add(a, b bulk.Result) bulk.Result {
	a.Total += b.Total
	a.Done += b.Done
	a.Already += b.Already
	a.Failed += b.Failed
	a.Retries += b.Retries
	a.Elapsed += b.Elapsed
	a.Interrupted = a.Interrupted || b.Interrupted
	a.Errors = append(a.Errors, b.Errors...)
	return a
}

func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	// Labels must start and end with an alphanumeric character.
	for len(b) > 0 && !isAlnum(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && !isAlnum(b[0]) {
		b = b[1:]
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
