package kube

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
)

// Resources makenodes lists and deletes.
var (
	Nodes       = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	Pods        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	Deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// listPageSize keeps each page of a list of a million objects small enough for
// the apiserver to serve from its watch cache without a large allocation.
const listPageSize = 10000

// NamesWithPrefix lists the names of gvr objects in namespace ("" for
// cluster-scoped or all) that start with prefix, fetching metadata only: about
// a tenth of the bytes of full objects, which matters at a million nodes.
func NamesWithPrefix(ctx context.Context, md metadata.Interface, gvr schema.GroupVersionResource, namespace, prefix string) (map[string]struct{}, error) {
	names := map[string]struct{}{}
	opts := metav1.ListOptions{Limit: listPageSize}
	for {
		list, err := md.Resource(gvr).Namespace(namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", gvr.Resource, err)
		}
		for _, item := range list.Items {
			if strings.HasPrefix(item.Name, prefix) {
				names[item.Name] = struct{}{}
			}
		}
		if list.Continue == "" {
			return names, nil
		}
		opts.Continue = list.Continue
	}
}
