package shard

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// A member sees the pods bound to its nodes through an informer that selects
// its shard label on pods. Its own Bindings carry that label (the API server
// copies a Binding's labels onto the pod), so nothing else writes per pod.
// The leader mends pods bound by anyone else (created with a nodeName,
// another scheduler): they get their node's label. The pods on a node that
// moves to another member are relabelled by that member (adopt.go).

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// watchUnlabelledPods labels bound pods that carry no shard label with their
// node's, until ctx ends. nodeShard looks a node's label up.
func (c *Controller) watchUnlabelledPods(ctx context.Context, nodeShard func(node string) string) error {
	inf := metadatainformer.NewFilteredMetadataInformer(c.cfg.Client, podsResource, metav1.NamespaceAll, 0,
		cache.Indexers{}, func(o *metav1.ListOptions) {
			o.LabelSelector = "!" + Label
			o.FieldSelector = "spec.nodeName!="
		})
	// The metadata of a pod has no nodeName: the field selector guarantees
	// one, and the node comes from a GET only for the rare pod listed here.
	handle := func(o any) {
		m, ok := o.(*metav1.PartialObjectMetadata)
		if !ok {
			return
		}
		if err := c.labelPodFromNode(ctx, m.Namespace, m.Name, nodeShard); err != nil && ctx.Err() == nil {
			c.cfg.Log.Warn().Err(err).Str("pod", m.Namespace+"/"+m.Name).Msg("could not give a bound pod its shard label")
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, n any) { handle(n) },
	}); err != nil {
		return fmt.Errorf("watch unlabelled pods: %w", err)
	}
	go inf.Informer().Run(ctx.Done())
	return nil
}

func (c *Controller) labelPodFromNode(ctx context.Context, ns, name string, nodeShard func(string) string) error {
	if c.cfg.Pods == nil {
		return nil
	}
	pod, err := c.cfg.Pods.Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get pod: %w", err)
	}
	member := nodeShard(pod.Spec.NodeName)
	if member == "" || pod.Labels[Label] == member {
		return nil
	}
	return c.labelPod(ctx, ns, name, member)
}

func (c *Controller) labelPod(ctx context.Context, ns, name, member string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{Label: member}}})
	if err != nil {
		return err
	}
	if _, err := c.cfg.Client.Resource(podsResource).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label pod %s/%s for %s: %w", ns, name, member, err)
	}
	c.cfg.Metrics.podLabels.Inc()
	return nil
}
