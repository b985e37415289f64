package nodes

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Shape is what every created node looks like to a scheduler.
type Shape struct {
	CPU    resource.Quantity // capacity and allocatable cpu
	Memory resource.Quantity // capacity and allocatable memory
	Pods   resource.Quantity // how many pods fit
	Labels map[string]string // extra labels (on top of the kwok and hostname labels)
	Taints []corev1.Taint
}

// FakeTaint keeps ordinary pods (DaemonSets, system pods) off simulated nodes:
// only pods that tolerate it, such as the ones makenodes creates, land there.
var FakeTaint = corev1.Taint{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: corev1.TaintEffectNoSchedule}

// ShapeFlags are the node shape as typed on the command line; Parse checks them.
type ShapeFlags struct {
	CPU    string   // e.g. "32"
	Memory string   // e.g. "256Gi"
	Pods   int      // e.g. 110
	Labels []string // "key=value"
	Taints []string // "key=value:Effect" or "key:Effect"
}

// DefaultShapeFlags is a large machine (the original's 32 cores, 256Gi) with
// the kubelet's default pod limit, tainted as fake.
func DefaultShapeFlags() ShapeFlags {
	return ShapeFlags{CPU: "32", Memory: "256Gi", Pods: 110, Taints: []string{
		FakeTaint.Key + "=" + FakeTaint.Value + ":" + string(FakeTaint.Effect)}}
}

// Parse validates the flags and returns the shape, with an error naming the
// flag and the bad value.
func (f ShapeFlags) Parse() (Shape, error) {
	var s Shape
	var err error
	if s.CPU, err = positiveQuantity("cpu", f.CPU); err != nil {
		return Shape{}, err
	}
	if s.Memory, err = positiveQuantity("memory", f.Memory); err != nil {
		return Shape{}, err
	}
	if f.Pods <= 0 {
		return Shape{}, fmt.Errorf("--pods %d: must be positive", f.Pods)
	}
	s.Pods = *resource.NewQuantity(int64(f.Pods), resource.DecimalSI)
	if s.Labels, err = ParseLabels(f.Labels); err != nil {
		return Shape{}, fmt.Errorf("--labels: %w", err)
	}
	for _, l := range reservedLabels {
		if _, ok := s.Labels[l]; ok {
			return Shape{}, fmt.Errorf("--labels: %s is set by makenodes itself", l)
		}
	}
	for _, t := range f.Taints {
		taint, err := ParseTaint(t)
		if err != nil {
			return Shape{}, fmt.Errorf("--taints: %w", err)
		}
		s.Taints = append(s.Taints, taint)
	}
	return s, nil
}

func positiveQuantity(flag, v string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return q, fmt.Errorf("--%s %q: not a quantity (e.g. 32, 500m, 256Gi): %w", flag, v, err)
	}
	if q.Sign() <= 0 {
		return q, fmt.Errorf("--%s %q: must be positive", flag, v)
	}
	return q, nil
}

// ParseLabels parses "key=value" items into a map, validating keys and values
// as the apiserver would (so a typo fails before thousands of creates do).
func ParseLabels(items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range items {
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value", item)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("%q: bad key: %s", item, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("%q: bad value: %s", item, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

// ParseTaint parses kubectl's taint syntax: "key=value:Effect" or "key:Effect".
func ParseTaint(s string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("%q: want key[=value]:Effect", s)
	}
	k, v, _ := strings.Cut(kv, "=")
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		return corev1.Taint{}, fmt.Errorf("%q: bad key: %s", s, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		return corev1.Taint{}, fmt.Errorf("%q: bad value: %s", s, strings.Join(errs, "; "))
	}
	switch e := corev1.TaintEffect(effect); e {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return corev1.Taint{Key: k, Value: v, Effect: e}, nil
	}
	return corev1.Taint{}, fmt.Errorf("%q: effect %q: want NoSchedule, PreferNoSchedule or NoExecute", s, effect)
}
