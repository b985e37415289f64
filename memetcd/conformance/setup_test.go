package conformance

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/k8s1m/k8s1m/memetcd/memetcdtest"
	"github.com/k8s1m/k8s1m/memetcd/server"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/utils/clock"
)

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

// The transformer prefix the upstream tests expect stored values to carry.
const testPrefix = "test!"

// maxLimit is etcd3's largest page size (an unexported constant upstream).
const maxLimit = 10000

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
}

// swapTransformer lets tests replace the value transformer of a running
// store, which upstream does by reaching into etcd3's unexported fields.
type swapTransformer struct {
	mu  sync.RWMutex
	cur value.Transformer
}

func (s *swapTransformer) get() value.Transformer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

func (s *swapTransformer) set(t value.Transformer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = t
}

func (s *swapTransformer) TransformFromStorage(ctx context.Context, data []byte, dc value.Context) ([]byte, bool, error) {
	return s.get().TransformFromStorage(ctx, data, dc)
}

func (s *swapTransformer) TransformToStorage(ctx context.Context, data []byte, dc value.Context) ([]byte, error) {
	return s.get().TransformToStorage(ctx, data, dc)
}

// testStore is etcd3's store plus the hooks the transformer tests need.
type testStore struct {
	storage.Interface
	prefix *storagetesting.PrefixTransformer // the original transformer
	swap   *swapTransformer
}

func (s *testStore) UpdatePrefixTransformer(modifier storagetesting.PrefixTransformerModifier) func() {
	cp := *s.prefix
	s.swap.set(modifier(&cp))
	return func() { s.swap.set(s.prefix) }
}

func (s *testStore) UpdateTransformer(modifier storagetesting.TransformerModifier) func() {
	orig := s.swap.get()
	s.swap.set(modifier(orig))
	return func() { s.swap.set(orig) }
}

type setup struct {
	server server.Config
	codec  runtime.Codec
}

type option func(*setup)

func withProgressNotify(d time.Duration) option {
	return func(s *setup) { s.server.ProgressNotifyInterval = d }
}

func withCodec(c runtime.Codec) option { return func(s *setup) { s.codec = c } }

// newStore starts memetcd and builds kube-apiserver's etcd3 store on it, as
// etcd3's own tests do on an embedded etcd.
func newStore(t *testing.T, opts ...option) (context.Context, *testStore, *kubernetes.Client) {
	t.Helper()
	su := setup{codec: apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)}
	for _, o := range opts {
		o(&su)
	}
	in := memetcdtest.Start(t, memetcdtest.Options{Server: su.server})
	client, err := kubernetes.New(clientv3.Config{Endpoints: []string{in.Endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	rec := storagetesting.NewKubernetesRecorder(client.Kubernetes)
	client.KV = storagetesting.NewKVRecorder(client.KV, rec)
	client.Kubernetes = rec

	prefix := storagetesting.NewPrefixTransformer([]byte(testPrefix), false)
	swap := &swapTransformer{cur: prefix}
	versioner := storage.APIObjectVersioner{}
	// The compactor gets a client of its own: its background reads of the
	// compaction key must not count as the store's reads in the recorder.
	compactClient, err := clientv3.New(clientv3.Config{Endpoints: []string{in.Endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { compactClient.Close() })
	compactor := etcd3.NewCompactor(compactClient, 0, clock.RealClock{}, nil)
	t.Cleanup(compactor.Stop)
	lease := etcd3.NewDefaultLeaseManagerConfig()
	lease.ReuseDurationSeconds = 1
	s, err := etcd3.New(client, compactor, su.codec,
		func() runtime.Object { return &example.Pod{} },
		func() runtime.Object { return &example.PodList{} },
		"", "/pods/", schema.GroupResource{Resource: "pods"}, swap, lease,
		etcd3.NewDefaultDecoder(su.codec, versioner), versioner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return context.Background(), &testStore{Interface: s, prefix: prefix, swap: swap}, client
}

// resetFeatureChecker makes the store re-detect what the server supports
// (RangeStream, progress requests) instead of reusing another test's answer.
func resetFeatureChecker(t *testing.T) {
	orig := etcdfeature.DefaultFeatureSupportChecker
	etcdfeature.DefaultFeatureSupportChecker = etcdfeature.NewDefaultFeatureSupportChecker()
	t.Cleanup(func() { etcdfeature.DefaultFeatureSupportChecker = orig })
}

func compaction(s *testStore, client *clientv3.Client) storagetesting.Compaction {
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		rv, err := storage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		cur, _, _, err := etcd3.Compact(ctx, client, 0, int64(rv))
		if err != nil {
			_, _, _, err = etcd3.Compact(ctx, client, cur, int64(rv))
		}
		if err != nil {
			t.Fatal(err)
		}
		// The store learns the compaction revision by watching etcd3's
		// compact_rev_key (with ListFromCacheSnapshot): wait until it has.
		cr, ok := s.Interface.(interface{ CompactRevision() int64 })
		if !ok {
			return
		}
		for cr.CompactRevision() < int64(rv) {
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func increaseRV(client *clientv3.Client) storagetesting.IncreaseRVFunc {
	return func(ctx context.Context, t *testing.T) int64 {
		resp, err := client.KV.Put(ctx, "increaseRV", "ok")
		if err != nil {
			t.Fatalf("put increaseRV: %v", err)
		}
		return resp.Header.Revision
	}
}

func keyValidation(client *clientv3.Client) storagetesting.KeyValidation {
	return func(ctx context.Context, t *testing.T, key string) {
		resp, err := client.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 0 {
			t.Fatalf("key %s not stored", key)
		}
		if string(resp.Kvs[0].Value[:len(testPrefix)]) != testPrefix {
			t.Errorf("value of %s lacks the transformer prefix", key)
		}
	}
}

func callsValidation(s *testStore, rec *storagetesting.KVRecorder) storagetesting.CallsValidation {
	return func(t *testing.T, pageSize, estimatedProcessedObjects uint64) {
		if reads := s.prefix.GetReadsAndReset(); reads != estimatedProcessedObjects {
			t.Errorf("transformer reads %d, want %d", reads, estimatedProcessedObjects)
		}
		// The store doubles its page size while pages come back short, so
		// the number of calls shows whether the server filled its pages.
		want := uint64(1)
		if pageSize != 0 {
			limit := pageSize
			for sum := uint64(1); sum < estimatedProcessedObjects; {
				limit = min(limit*2, maxLimit)
				sum += limit
				want++
			}
		}
		if got := rec.GetReadsAndReset() + rec.GetStreamReadsAndReset(); got != want {
			t.Fatalf("etcd reads %d, want %d", got, want)
		}
	}
}
