package durability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/harness/bins"
	"github.com/k8s1m/k8s1m/memetcd/memetcdtest/kubeapiserver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// objects reads back everything the test created, as the apiserver serves
// it (uid, resourceVersion, managed fields and all), keyed by kind/ns/name.
func objects(t *testing.T, cs kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string]string{}
	add := func(kind string, meta metav1.Object, obj any) {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		out[kind+"/"+meta.GetNamespace()+"/"+meta.GetName()] = string(b)
	}
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	add("namespace", nsObj, nsObj)
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cms.Items {
		add("configmap", &cms.Items[i], &cms.Items[i])
	}
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range secrets.Items {
		add("secret", &secrets.Items[i], &secrets.Items[i])
	}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range deps.Items {
		add("deployment", &deps.Items[i], &deps.Items[i])
	}
	return out
}

// TestKubeAPIServerObjectsSurviveCrash: a real kube-apiserver writes objects
// to memetcd (fsync mode), then memetcd is SIGKILLed and both are restarted.
// Every object must read back byte-identical, from the WAL alone and from a
// snapshot plus the WAL.
func TestKubeAPIServerObjectsSurviveCrash(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snapshot), func(t *testing.T) {
			bins.RequireBinary(t, "kube-apiserver") // skips (or fails in CI) with the make target
			walDir := filepath.Join(t.TempDir(), "wal")
			args := []string{"--wal-default=fsync", "--wal-snapshot-interval=0"}
			if snapshot {
				args[1] = "--wal-snapshot-interval=200ms"
			}
			p := startT(t, walDir, args...)
			pki := kubeapiserver.NewPKI(t)
			api := kubeapiserver.Start(t, pki, p.Endpoint)
			cs := kubernetes.NewForConfigOrDie(api.Config)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()

			ns := "durability"
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i), Labels: map[string]string{"i": fmt.Sprint(i)}},
					Data: map[string]string{"value": fmt.Sprint(i)}}
				if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 5 {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("secret-%d", i)}, StringData: map[string]string{"k": "v"}}
				if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			replicas := int32(2)
			dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}}},
			}}
			if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// Updates and deletes too, so replay has more than creations to get right.
			for i := range 10 {
				cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, fmt.Sprintf("cm-%02d", i), metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				cm.Data["value"] = "updated"
				if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for i := 20; i < 25; i++ {
				if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, fmt.Sprintf("cm-%02d", i), metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if snapshot {
				pollFile(t, filepath.Join(walDir, "snap-*.snap"))
				// One more write after the snapshot, replayed from the WAL.
				if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-snapshot"}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			before := objects(t, cs, ns)
			if len(before) != 1+30-5+5+1+btoi(snapshot) {
				t.Fatalf("%d objects before the crash", len(before))
			}

			api.Stop()
			p.Kill() // crash: no flush, no goodbye
			p = startT(t, walDir, args...)
			api = kubeapiserver.Start(t, pki, p.Endpoint)
			after := objects(t, kubernetes.NewForConfigOrDie(api.Config), ns)
			if !reflect.DeepEqual(before, after) {
				for k, v := range before {
					if after[k] != v {
						t.Errorf("%s differs after restart:\nbefore %s\nafter  %s", k, v, after[k])
					}
				}
				for k := range after {
					if _, ok := before[k]; !ok {
						t.Errorf("%s appeared after restart", k)
					}
				}
				t.FailNow()
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pollFile waits until a file matching pattern exists.
func pollFile(t *testing.T, pattern string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Dir(pattern))
			t.Fatalf("no %s after 60s (dir has %d entries)", pattern, len(entries))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
