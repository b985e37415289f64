package kubetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/k8s1m/k8s1m/memetcd/memetcdtest/kubeapiserver"
	"github.com/k8s1m/k8s1m/memetcd/server"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"
)

// TestPaginationUnderResponseLimit: memetcd refuses a Range reply over
// --max-response-bytes (1 MiB here). A real kube-apiserver, without its watch
// cache so every list reaches memetcd, still lists 1.5 MiB of ConfigMaps in
// pages; the same list in one piece fails with memetcd's error.
func TestPaginationUnderResponseLimit(t *testing.T) {
	in := memetcdtest.Start(t, memetcdtest.Options{Server: server.Config{MaxResponseBytes: 1 << 20}})
	api := kubeapiserver.Start(t, kubeapiserver.NewPKI(t), in.Endpoint, "--watch-cache=false")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(api.Config)
	const ns, n = "default", 48
	data := map[string]string{"blob": strings.Repeat("x", 32<<10)}
	for i := range n {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("big-%02d", i)}, Data: data}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().ConfigMaps(ns).List(ctx, opts)
	})
	p.PageSize = 10
	got := 0
	if err := p.EachListItem(ctx, metav1.ListOptions{LabelSelector: ""}, func(runtime.Object) error { got++; return nil }); err != nil {
		t.Fatalf("paginated list: %v", err)
	}
	if got < n {
		t.Fatalf("paginated list gave %d ConfigMaps, want at least %d", got, n)
	}
	_, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("unpaginated list of 1.5 MiB: %v, want memetcd's message-too-large error", err)
	}
}
