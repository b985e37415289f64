package nodes

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestShapeFlagsParse(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*ShapeFlags)
		wantErr string // substring; "" means valid
	}{
		{name: "defaults", mod: func(*ShapeFlags) {}},
		{name: "labels and taints", mod: func(f *ShapeFlags) {
			f.Labels = []string{"zone=a", "example.com/rack=r1"}
			f.Taints = []string{"dedicated=gpu:NoExecute", "spot:PreferNoSchedule"}
		}},
		{name: "cpu not a quantity", mod: func(f *ShapeFlags) { f.CPU = "lots" }, wantErr: "--cpu"},
		{name: "cpu zero", mod: func(f *ShapeFlags) { f.CPU = "0" }, wantErr: "--cpu"},
		{name: "memory negative", mod: func(f *ShapeFlags) { f.Memory = "-1Gi" }, wantErr: "--memory"},
		{name: "pods zero", mod: func(f *ShapeFlags) { f.Pods = 0 }, wantErr: "--pods"},
		{name: "label without value", mod: func(f *ShapeFlags) { f.Labels = []string{"zone"} }, wantErr: "--labels"},
		{name: "label bad key", mod: func(f *ShapeFlags) { f.Labels = []string{"bad key=x"} }, wantErr: "--labels"},
		{name: "reserved label", mod: func(f *ShapeFlags) { f.Labels = []string{"kwok-group=3"} }, wantErr: "set by makenodes"},
		{name: "taint without effect", mod: func(f *ShapeFlags) { f.Taints = []string{"a=b"} }, wantErr: "--taints"},
		{name: "taint bad effect", mod: func(f *ShapeFlags) { f.Taints = []string{"a=b:Sometimes"} }, wantErr: "effect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := DefaultShapeFlags()
			tt.mod(&f)
			_, err := f.Parse()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	f := DefaultShapeFlags()
	f.Labels = []string{"zone=a"}
	shape, err := f.Parse()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Prefix: "n-", Count: 25, PerKwokGroup: 10, Shape: shape}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Groups() != 3 {
		t.Fatalf("groups = %d, want 3", cfg.Groups())
	}
	tests := []struct {
		i         int
		name      string
		wantGroup string
	}{{0, "n-0", "0"}, {9, "n-9", "0"}, {10, "n-10", "1"}, {24, "n-24", "2"}}
	for _, tt := range tests {
		n := cfg.Build(tt.i)
		if n.Name != tt.name || n.Labels[GroupLabel] != tt.wantGroup || n.Labels[corev1.LabelHostname] != tt.name {
			t.Errorf("node %d: name %q labels %v", tt.i, n.Name, n.Labels)
		}
		if n.Annotations[KwokAnnotation] != "fake" || n.Labels["zone"] != "a" {
			t.Errorf("node %d lacks kwok annotation or shape label: %v %v", tt.i, n.Annotations, n.Labels)
		}
		if got := n.Status.Allocatable[corev1.ResourcePods]; got.Value() != 110 {
			t.Errorf("pods allocatable = %v", got)
		}
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0] != FakeTaint {
			t.Errorf("taints = %v", n.Spec.Taints)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	shape, _ := DefaultShapeFlags().Parse()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative count", Config{Prefix: "n-", Count: -1, PerKwokGroup: 1, Shape: shape}, "--count"},
		{"skip beyond count", Config{Prefix: "n-", Count: 5, Skip: 6, PerKwokGroup: 1, Shape: shape}, "--skip"},
		{"zero group size", Config{Prefix: "n-", Count: 5, PerKwokGroup: 0, Shape: shape}, "--per-kwok-group"},
		{"bad prefix", Config{Prefix: "Bad_", Count: 5, PerKwokGroup: 1, Shape: shape}, "--prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}
}
