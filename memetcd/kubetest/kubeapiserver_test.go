package kubetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/k8s1m/k8s1m/memetcd/memetcdtest/kubeapiserver"
	"github.com/k8s1m/k8s1m/memetcd/store"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

var (
	crdGVR    = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	widgetGVR = schema.GroupVersionResource{Group: "memetcd.k8s1m.io", Version: "v1", Resource: "widgets"}
)

func widgetCRD() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.memetcd.k8s1m.io"},
		"spec": map[string]any{
			"group": "memetcd.k8s1m.io", "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
}

func poll(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestKubeAPIServerOnMemetcd runs a real kube-apiserver on memetcd, writes
// the kinds a cluster is made of, lists, watches, restarts the apiserver
// and reads everything back.
func TestKubeAPIServerOnMemetcd(t *testing.T) {
	in := memetcdtest.Start(t, memetcdtest.Options{})
	pki := kubeapiserver.NewPKI(t)
	api := kubeapiserver.Start(t, pki, in.Endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(api.Config)
	dyn := dynamic.NewForConfigOrDie(api.Config)

	// Namespace, ConfigMaps, a Deployment.
	const ns = "memetcd-e2e"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The namespace must be observed by admission before objects go in it.
	poll(t, "namespace visible", 30*time.Second, func() error {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-00"}, Data: map[string]string{"i": "0"}}, metav1.CreateOptions{})
		return err
	})
	const nCM = 25
	for i := 1; i < nCM; i++ {
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i)}, Data: map[string]string{"i": fmt.Sprint(i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/pause:3.10"}}}},
	}}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Optimistic concurrency: an update with a stale resourceVersion conflicts.
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "cm-00", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := cm.DeepCopy()
	cm.Data["i"] = "updated"
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want a conflict", err)
	}

	// A CRD and its objects.
	if _, err := dyn.Resource(crdGVR).Create(ctx, widgetCRD(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "widget CRD served", 60*time.Second, func() error {
		_, err := dyn.Resource(widgetGVR).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "memetcd.k8s1m.io/v1", "kind": "Widget", "metadata": map[string]any{"name": "w-0"}, "spec": map[string]any{"size": int64(0)},
		}}, metav1.CreateOptions{})
		return err
	})
	for i := 1; i < 5; i++ {
		if _, err := dyn.Resource(widgetGVR).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "memetcd.k8s1m.io/v1", "kind": "Widget", "metadata": map[string]any{"name": fmt.Sprintf("w-%d", i)}, "spec": map[string]any{"size": int64(i)},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Nodes and their Leases, as kubelets (or kwok) write them.
	const nNodes = 10
	for i := range nNodes {
		name := fmt.Sprintf("node-%02d", i)
		if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kwok-group": "0"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		now := metav1.NewMicroTime(time.Now())
		if _, err := cs.CoordinationV1().Leases("kube-node-lease").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Renew one lease, the hottest write of a big cluster.
	l, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, "node-00", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &now
	if _, err := cs.CoordinationV1().Leases("kube-node-lease").Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// An Event: the apiserver stores it with an etcd lease (--event-ttl).
	if _, err := cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "ev-1"},
		InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: ns, Name: "cm-00"}, Reason: "Test", Message: "hello", Type: "Normal"}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := in.Store.Range(&store.RangeRequest{Key: []byte("/registry/events/" + ns + "/ev-1")})
	if err != nil || len(res.KVs) != 1 || res.KVs[0].Lease == 0 {
		t.Fatalf("event in memetcd: %+v %v (want a key with a lease)", res, err)
	}
	info, err := in.Store.TimeToLive(res.KVs[0].Lease, false)
	if err != nil || info.GrantedTTL < 3600 {
		t.Fatalf("event lease: %+v %v (want the 1h default event TTL)", info, err)
	}

	// List with limit/continue walks every ConfigMap exactly once.
	seen := map[string]bool{}
	opts := metav1.ListOptions{Limit: 7}
	pages := 0
	for {
		list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range list.Items {
			if seen[c.Name] {
				t.Fatalf("%s listed twice", c.Name)
			}
			seen[c.Name] = true
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	// kube-root-ca.crt is created by the controller-manager, which is not running.
	if len(seen) != nCM || pages != 4 {
		t.Fatalf("paged list saw %d configmaps in %d pages, want %d in 4", len(seen), pages, nCM)
	}

	// Watch from a resourceVersion: the change after it arrives.
	list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-late"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "cm-late" {
			t.Fatalf("watch event %v %v", ev.Type, ev.Object)
		}
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
	w.Stop()

	// Consistent reads from the watch cache use RequestWatchProgress once the
	// apiserver trusts memetcd's reported version.
	poll(t, "apiserver requests watch progress", 60*time.Second, func() error {
		if _, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); err != nil {
			return err
		}
		if progressRequests(t, in) == 0 {
			return fmt.Errorf("no progress requests seen")
		}
		return nil
	})

	// Restart the apiserver on the same memetcd and read everything back.
	api.Stop()
	api = kubeapiserver.Start(t, pki, in.Endpoint)
	cs = kubernetes.NewForConfigOrDie(api.Config)
	dyn = dynamic.NewForConfigOrDie(api.Config)
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(cms.Items) != nCM+1 {
		t.Fatalf("configmaps after restart: %d %v", len(cms.Items), err)
	}
	got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "cm-00", metav1.GetOptions{})
	if err != nil || got.Data["i"] != "updated" {
		t.Fatalf("cm-00 after restart: %v %v", got.Data, err)
	}
	if d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 3 {
		t.Fatalf("deployment after restart: %v", err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "kwok-group=0"})
	if err != nil || len(nodes.Items) != nNodes {
		t.Fatalf("nodes after restart: %d %v", len(nodes.Items), err)
	}
	leases, err := cs.CoordinationV1().Leases("kube-node-lease").List(ctx, metav1.ListOptions{})
	if err != nil || len(leases.Items) != nNodes {
		t.Fatalf("node leases after restart: %d %v", len(leases.Items), err)
	}
	if _, err := cs.CoreV1().Events(ns).Get(ctx, "ev-1", metav1.GetOptions{}); err != nil {
		t.Fatalf("event after restart: %v", err)
	}
	poll(t, "widgets after restart", 60*time.Second, func() error {
		ws, err := dyn.Resource(widgetGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(ws.Items) != 5 {
			return fmt.Errorf("%d widgets", len(ws.Items))
		}
		return nil
	})

	// The apiserver listed through etcd 3.7's RangeStream and never got an
	// Unimplemented answer from memetcd.
	calls := handled(t, in)
	if calls["RangeStream/OK"] == 0 {
		t.Errorf("no successful RangeStream calls: %v", calls)
	}
	for k, n := range calls {
		if strings.HasSuffix(k, "/Unimplemented") {
			t.Errorf("%s answered Unimplemented %v times", k, n)
		}
	}
	t.Logf("gRPC calls by method/code: %v", calls)
}

// handled returns grpc_server_handled_total by "method/code".
func handled(t *testing.T, in *memetcdtest.Instance) map[string]float64 {
	t.Helper()
	mfs, err := in.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "grpc_server_handled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var method, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "grpc_method":
					method = l.GetValue()
				case "grpc_code":
					code = l.GetValue()
				}
			}
			if v := m.GetCounter().GetValue(); v > 0 {
				out[method+"/"+code] += v
			}
		}
	}
	return out
}

// progressRequests reads memetcd's count of RequestProgress messages.
func progressRequests(t *testing.T, in *memetcdtest.Instance) float64 {
	t.Helper()
	mfs, err := in.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "memetcd_server_watch_progress_requests_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("progress request metric not registered")
	return 0
}
