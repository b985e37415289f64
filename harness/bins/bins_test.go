package bins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPathIn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kwok"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		bin      string
		wantErr  error
		wantText string
	}{
		{name: "present", bin: "etcd"},
		{name: "missing upstream names its make target", bin: "kube-apiserver", wantErr: ErrMissing, wantText: "make bin/kube-apiserver"},
		{name: "missing workspace binary", bin: "memetcd", wantErr: ErrMissing, wantText: "make bins"},
		{name: "not executable", bin: "kwok", wantErr: ErrMissing, wantText: "make bin/kwok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PathIn(dir, tt.bin)
			if tt.wantErr == nil {
				if err != nil || p != filepath.Join(dir, tt.bin) {
					t.Fatalf("PathIn = %q, %v", p, err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("PathIn error = %v, want %v mentioning %q", err, tt.wantErr, tt.wantText)
			}
		})
	}
}

func TestDir(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("env wins", func(t *testing.T) {
		t.Setenv(EnvDir, "/opt/k8s1m-bin")
		d, err := Dir()
		if err != nil || d != "/opt/k8s1m-bin" {
			t.Fatalf("Dir = %q, %v", d, err)
		}
	})
	t.Run("walks up to go.work", func(t *testing.T) {
		t.Setenv(EnvDir, "")
		t.Chdir(deep)
		d, err := Dir()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(root, "bin"); d != want {
			t.Fatalf("Dir = %q, want %q", d, want)
		}
	})
	t.Run("no go.work", func(t *testing.T) {
		t.Setenv(EnvDir, "")
		t.Chdir(t.TempDir())
		if _, err := Dir(); err == nil || !strings.Contains(err.Error(), EnvDir) {
			t.Fatalf("Dir error = %v, want one naming %s", err, EnvDir)
		}
	})
}
