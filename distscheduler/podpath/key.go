package podpath

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Key names a pod in the tree: namespace/name/uid. The UID makes a re-created
// pod of the same name a different item.
func Key(pod *v1.Pod) string {
	return pod.Namespace + "/" + pod.Name + "/" + string(pod.UID)
}

// ParseKey splits a Key.
func ParseKey(key string) (namespace, name string, uid types.UID, err error) {
	ns, rest, ok := strings.Cut(key, "/")
	if ok {
		name, u, ok2 := strings.Cut(rest, "/")
		if ok2 && ns != "" && name != "" && u != "" {
			return ns, name, types.UID(u), nil
		}
	}
	return "", "", "", fmt.Errorf("pod key %q is not namespace/name/uid", key)
}
