package kube

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// clientGoEncode is what the typed clients send for obj: client-go's protobuf
// serializer behind the scheme's versioning encoder.
func clientGoEncode(t *testing.T, obj runtime.Object) []byte {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), Protobuf)
	if !ok {
		t.Fatal("no protobuf serializer")
	}
	b, err := runtime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion), obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeProtobufMatchesClientGo(t *testing.T) {
	zero := int64(0)
	objs := []interface {
		runtime.Object
		runtime.ProtobufMarshaller
	}{
		&corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "n-1", Labels: map[string]string{"b": "2", "a": "1"}},
			Status:     corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32")}},
		},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-1", Namespace: "default"}},
		&metav1.DeleteOptions{GracePeriodSeconds: &zero},
	}
	for _, obj := range objs {
		gvks, _, err := scheme.Scheme.ObjectKinds(obj)
		if err != nil {
			t.Fatal(err)
		}
		gvk := corev1.SchemeGroupVersion.WithKind(gvks[0].Kind)
		got, err := EncodeProtobuf(obj, gvk)
		if err != nil {
			t.Fatal(err)
		}
		if want := clientGoEncode(t, obj); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", gvk.Kind, got, want)
		}
		back, _, err := scheme.Codecs.UniversalDeserializer().Decode(got, nil, nil)
		if err != nil {
			t.Fatalf("%s: decode: %v", gvk.Kind, err)
		}
		if back.GetObjectKind().GroupVersionKind() != gvk {
			t.Errorf("%s: decoded kind %v", gvk.Kind, back.GetObjectKind().GroupVersionKind())
		}
		back.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{}) // obj's TypeMeta is empty
		if !apiequality.Semantic.DeepEqual(back, obj) {
			t.Errorf("%s: decoded %+v, want %+v", gvk.Kind, back, obj)
		}
	}
}
