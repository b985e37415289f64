package check

import (
	"path/filepath"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestModules parses every terraform module under terraform/ and checks its
// wiring the way terraform validate would without providers: variables
// typed and described, every module call's source a directory of this
// repository whose variables the call's arguments are (and gives every
// required one), every var./local./module. reference declared, every
// module output read exists.
func TestModules(t *testing.T) {
	root := filepath.Join(repoRoot(t), "terraform")
	dirs, err := ModuleDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 10 {
		t.Fatalf("found %d module directories under %s, expected the root and its modules", len(dirs), root)
	}
	cache := map[string]*Module{}
	load := func(dir string) (*Module, error) {
		dir = filepath.Clean(dir)
		if m, ok := cache[dir]; ok {
			return m, nil
		}
		m, err := LoadModule(dir)
		if err != nil {
			return nil, err
		}
		cache[dir] = m
		return m, nil
	}
	called := map[string]bool{}
	for _, dir := range dirs {
		m, err := load(dir)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		for _, p := range m.Problems(load) {
			t.Error(p)
		}
		for _, c := range m.Calls {
			called[filepath.Clean(filepath.Join(dir, c.Source))] = true
		}
	}
	// Every module but the root is used by someone: no dead modules.
	for _, dir := range dirs {
		if dir != root && !called[dir] {
			t.Errorf("%s: no module calls it", dir)
		}
	}
}

// TestProblemsFindsMistakes feeds the checker a module with one of each
// mistake, so a checker that finds nothing cannot pass TestModules.
func TestProblemsFindsMistakes(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), `
variable "untyped" {
  description = "no type"
}
variable "typed" {
  type = string
}
module "child" {
  source  = "./child"
  unknown = 1
}
module "remote" {
  source = "git::https://example.org/x.git"
}
locals {
  a = var.missing
  b = local.nope
  c = module.child.nothing
  d = module.ghost.x
}
`)
	write(t, filepath.Join(dir, "child", "main.tf"), `
variable "needed" {
  description = "required"
  type        = number
}
output "something" {
  value = var.needed
}
`)
	m, err := LoadModule(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Problems(LoadModule)
	for _, want := range []string{
		`variable "untyped" has no type`,
		`variable "typed" has no description`,
		`"unknown" is not a variable of ./child`,
		`required variable "needed" of ./child not given`,
		`is not a local path`,
		`var.missing is not declared`,
		`local.nope is not declared`,
		`module.child.nothing: ./child has no such output`,
		`module.ghost is not called here`,
	} {
		if !containsSubstring(got, want) {
			t.Errorf("no problem mentions %q; got:\n%s", want, joinLines(got))
		}
	}
}
