package kwok

import (
	"bytes"
	"fmt"

	"github.com/k8s1m/k8s1m/harness/kwokstages"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// ManifestConfig shapes the in-cluster deployment of the controllers.
type ManifestConfig struct {
	Replicas  int    // one per kwok group: ceil(nodes / perKwokGroup)
	Namespace string // default kube-system
	Image     string // default DefaultImage
}

// DefaultImage is kwok's published image at the workspace pin (versions.txt).
const DefaultImage = "registry.k8s.io/kwok/kwok:v0.8.0"

const (
	appName    = "kwok-controller"
	stagesPath = "/etc/kwok/stages.yaml"
	serverPort = 10247
)

// Manifest renders the ServiceAccount, RBAC, stage ConfigMap and StatefulSet
// that run the controllers in a cluster. Pod i of the StatefulSet manages
// kwok-group=<i>: the ordinal comes from the pod-index label Kubernetes puts
// on StatefulSet pods.
func Manifest(cfg ManifestConfig) ([]byte, error) {
	if cfg.Replicas <= 0 {
		return nil, fmt.Errorf("replicas %d: must be positive", cfg.Replicas)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = metav1.NamespaceSystem
	}
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	labels := map[string]string{"app": appName}
	meta := func(kind, apiVersion string, namespaced bool) (metav1.TypeMeta, metav1.ObjectMeta) {
		om := metav1.ObjectMeta{Name: appName, Labels: labels}
		if namespaced {
			om.Namespace = cfg.Namespace
		}
		return metav1.TypeMeta{Kind: kind, APIVersion: apiVersion}, om
	}

	sa := &corev1.ServiceAccount{}
	sa.TypeMeta, sa.ObjectMeta = meta("ServiceAccount", "v1", true)

	role := &rbacv1.ClusterRole{Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes", "pods"}, Verbs: []string{"get", "list", "watch", "patch", "update", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"nodes/status", "pods/status"}, Verbs: []string{"patch", "update"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "update"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
	}}
	role.TypeMeta, role.ObjectMeta = meta("ClusterRole", "rbac.authorization.k8s.io/v1", false)

	binding := &rbacv1.ClusterRoleBinding{
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: appName},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: appName, Namespace: cfg.Namespace}},
	}
	binding.TypeMeta, binding.ObjectMeta = meta("ClusterRoleBinding", "rbac.authorization.k8s.io/v1", false)

	stages := &corev1.ConfigMap{Data: map[string]string{"stages.yaml": kwokstages.Stages()}}
	stages.TypeMeta, stages.ObjectMeta = meta("ConfigMap", "v1", true)
	stages.Name = appName + "-stages"

	flags := Flags{
		Stages:        stagesPath,
		ServerAddress: fmt.Sprintf("0.0.0.0:%d", serverPort),
		Group:         "$(POD_INDEX)",
		LeaseSeconds:  40,
		// One /16 for all replicas: pod IPs of fake pods need not be unique
		// across groups; they are never routed.
		CIDR: "10.0.0.0/16",
	}
	probe := func(initial, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intOrString(serverPort)}},
			InitialDelaySeconds: initial, PeriodSeconds: period, FailureThreshold: failures, TimeoutSeconds: 5,
		}
	}
	replicas := int32(cfg.Replicas)
	sts := &appsv1.StatefulSet{
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: appName,
			// All controllers start together; none depends on another.
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: appName,
					Containers: []corev1.Container{{
						Name:  appName,
						Image: cfg.Image,
						Args:  flags.Args(),
						Env: []corev1.EnvVar{{
							Name: "POD_INDEX",
							ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
								FieldPath: "metadata.labels['apps.kubernetes.io/pod-index']"}},
						}},
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: serverPort}},
						StartupProbe:   probe(2, 5, 24),
						LivenessProbe:  probe(0, 30, 5),
						ReadinessProbe: probe(0, 10, 3),
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							// Sized for 10,000 nodes per controller (the default group size).
							corev1.ResourceCPU:    resource.MustParse("2"),
							corev1.ResourceMemory: resource.MustParse("2Gi"),
						}},
						VolumeMounts: []corev1.VolumeMount{{Name: "stages", MountPath: "/etc/kwok", ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: "stages", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: stages.Name}}}}},
					// Keep controllers off the nodes they simulate.
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
							MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"kwok"}}},
						}}}}},
				},
			},
		},
	}
	sts.TypeMeta, sts.ObjectMeta = meta("StatefulSet", "apps/v1", true)

	var out bytes.Buffer
	out.WriteString("# Generated by `makenodes kwok manifest`; do not edit by hand.\n")
	for i, obj := range []any{sa, role, binding, stages, sts} {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("render kwok manifest: %w", err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}

func intOrString(port int) intstr.IntOrString { return intstr.FromInt32(int32(port)) }
