package podpath

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestKeyRoundTrip(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"}}
	ns, name, uid, err := ParseKey(Key(pod))
	if err != nil || ns != "ns" || name != "p" || uid != "u1" {
		t.Fatalf("ParseKey(Key) = %q %q %q %v", ns, name, uid, err)
	}
	for _, bad := range []string{"", "ns/p", "ns//u", "/p/u"} {
		if _, _, _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
