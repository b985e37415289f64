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
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"
)

// TestPaginationUnderResponseLimit: memetcd refuses a Range reply over
// --max-response-bytes (1 MiB here): reading 1.5 MiB of ConfigMaps in one
// Range fails with the gRPC error. A real kube-apiserver, without its watch
// cache so every list reaches memetcd, still lists them, in the client's pages
// and also when the client asks for everything at once (the apiserver reads
// etcd in pages of its own).
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
	all, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(all.Items) < n {
		t.Fatalf("list without a limit through kube-apiserver: %v", err)
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{in.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	_, err = etcd.Get(ctx, "/registry/configmaps/"+ns+"/", clientv3.WithPrefix())
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("one Range of 1.5 MiB: %v, want ResourceExhausted (message larger than max)", err)
	}
}
