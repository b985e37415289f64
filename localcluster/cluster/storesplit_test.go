package cluster

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/harness/pki"
	"github.com/k8s1m/k8s1m/harness/store"
	"github.com/rs/zerolog"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

func TestServerOverrides(t *testing.T) {
	split := []SplitStore{
		{Part: SplitParts[0], Store: &store.Store{Endpoint: "http://127.0.0.1:1"}},
		{Part: SplitParts[1], Store: &store.Store{Endpoint: "http://127.0.0.1:2"}},
	}
	want := "/events#http://127.0.0.1:2,coordination.k8s.io/leases#http://127.0.0.1:1,events.k8s.io/events#http://127.0.0.1:2"
	if got := serverOverrides(split); got != want {
		t.Errorf("serverOverrides = %q, want %q", got, want)
	}
}

func TestCheckSplitWAL(t *testing.T) {
	tests := []struct {
		modes   map[string]string
		wantErr string
	}{
		{modes: nil},
		{modes: map[string]string{"leases": "buffered", "pods": "fsync", "events": "none"}},
		{modes: map[string]string{"lease": "none"}, wantErr: "no such part"},
		{modes: map[string]string{"pods": "sync"}, wantErr: "want none, buffered or fsync"},
	}
	for _, tt := range tests {
		err := CheckSplitWAL(tt.modes)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckSplitWAL(%v) = %v, want error containing %q", tt.modes, err, tt.wantErr)
		}
	}
}

// TestStoreSplit starts the default memetcd and the split parts, a real
// kube-apiserver on them with the generated --etcd-servers-overrides, writes
// a Lease, an Event, a Pod and a ConfigMap through the apiserver, and asks
// every memetcd directly (the real etcdctl) which keys it holds: each
// resource must be in its own store and nowhere else.
func TestStoreSplit(t *testing.T) {
	etcdctl := bins.RequireBinary(t, "etcdctl")
	c := &Cluster{log: zerolog.New(zerolog.NewTestWriter(t)), cfg: Config{
		RunDir:         t.TempDir(),
		BinDir:         binDir(t, "memetcd", "kube-apiserver"),
		Store:          store.Memetcd,
		StoreSplit:     true,
		SplitWAL:       map[string]string{"pods": "fsync"},
		KillWithParent: true,
	}}
	t.Cleanup(func() { _ = c.Stop(10 * time.Second) })
	ctx := t.Context()
	var err error
	if c.PKI, err = pki.Generate(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := c.startStore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.startAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if len(c.Split) != len(SplitParts) {
		t.Fatalf("%d split stores, want %d", len(c.Split), len(SplitParts))
	}
	cs := client(t, c.Kubeconfig())
	writeOneOfEach(ctx, t, cs, "split")

	want := map[string][]string{ // store name -> keys it must hold
		"memetcd":        {"/registry/configmaps/split/cm", "/registry/namespaces/split"},
		"memetcd-leases": {"/registry/leases/split/lease"},
		"memetcd-events": {"/registry/events/split/event"},
		"memetcd-pods":   {"/registry/pods/split/pod"},
	}
	for _, s := range c.Stores() {
		keys := storeKeys(ctx, t, etcdctl, s.Endpoint)
		name := s.Proc.Name()
		for _, k := range want[name] {
			if !slices.Contains(keys, k) {
				t.Errorf("%s lacks %s; holds %v", name, k, keys)
			}
		}
		for other, ks := range want {
			if other == name {
				continue
			}
			for _, k := range ks {
				if slices.Contains(keys, k) {
					t.Errorf("%s holds %s, which belongs in %s", name, k, other)
				}
			}
		}
	}
}

// binDir is the binary directory, skipping (or failing in CI) when one of
// names is missing.
func binDir(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		bins.RequireBinary(t, n)
	}
	dir, err := bins.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func client(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// writeOneOfEach creates namespace ns holding a Lease, an Event, a Pod and a
// ConfigMap (and the service account the Pod's admission needs).
func writeOneOfEach(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }
	steps := []struct {
		what string
		do   func() error
	}{
		{"namespace", func() error {
			_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			return err
		}},
		{"service account", func() error {
			_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: meta("default")}, metav1.CreateOptions{})
			return err
		}},
		{"lease", func() error {
			_, err := cs.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{ObjectMeta: meta("lease"),
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("test"), LeaseDurationSeconds: ptr.To[int32](40)}}, metav1.CreateOptions{})
			return err
		}},
		{"event", func() error {
			_, err := cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: meta("event"),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "pod"}, Reason: "Test", Message: "split", Type: corev1.EventTypeNormal}, metav1.CreateOptions{})
			return err
		}},
		{"pod", func() error {
			_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: meta("pod"), Spec: corev1.PodSpec{
				AutomountServiceAccountToken: ptr.To(false),
				Containers:                   []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}}}, metav1.CreateOptions{})
			return err
		}},
		{"configmap", func() error {
			_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta("cm"), Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("create %s: %v", s.what, err)
		}
	}
}

// storeKeys lists every key under /registry/ of the store at endpoint with
// the real etcdctl.
func storeKeys(ctx context.Context, t *testing.T, etcdctl, endpoint string) []string {
	t.Helper()
	out, err := exec.CommandContext(ctx, etcdctl, "--endpoints="+endpoint, "get", "/registry/", "--prefix", "--keys-only").Output()
	if err != nil {
		t.Fatalf("etcdctl get %s: %v", endpoint, err)
	}
	var keys []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			keys = append(keys, l)
		}
	}
	return keys
}
