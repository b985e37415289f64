// Package workfile keeps go.work's replace directives equal to the releases in
// versions.txt: one `replace <module> <released version> => ./<dir>` per
// released module, and no other replace of a k8s1m module.
//
// Why go.work needs them: in workspace mode the go command still loads the
// go.mod of every sibling version a workspace module requires (distscheduler
// requires cli v0.1.0, so it reads cli@v0.1.0's go.mod), and those versions are
// not on any public proxy. With a warm module cache nobody notices; from an
// empty one every workspace command fails. Replacing exactly the released
// version with its directory answers that lookup locally. The replace must name
// the version: Go refuses an unversioned replace of a workspace module ("is
// replaced at all versions"). pins.Check makes every dependant require the
// latest release of each sibling, so the latest release is the only version the
// workspace needs.
package workfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/k8s1m/k8s1m/tools/release/versions"
	"golang.org/x/mod/modfile"
)

// Name is the workspace file at the repository root.
const Name = "go.work"

// Problem is one way go.work's replace directives differ from versions.txt.
type Problem struct {
	Line int // line in go.work; 0 when a directive is missing
	Msg  string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return Name + ": " + p.Msg
	}
	return fmt.Sprintf("%s:%d: %s", Name, p.Line, p.Msg)
}

// Check reads root/go.work and reports how its replace directives differ from
// f's releases; nil means they agree.
func Check(root string, f *versions.File) ([]Problem, error) {
	path := filepath.Join(root, Name)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Problems(path, data, f)
}

// Write rewrites root/go.work so that its replace directives agree with f's
// releases, leaving everything else as it is. It reports whether the file
// changed; an agreeing file is not touched.
func Write(root string, f *versions.File) (changed bool, err error) {
	path := filepath.Join(root, Name)
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	out, err := Rewrite(path, data, f)
	if err != nil {
		return false, err
	}
	if string(out) == string(data) {
		return false, nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

// Problems parses data (the contents of go.work; path is for error messages)
// and reports how its replace directives differ from f's releases.
func Problems(path string, data []byte, f *versions.File) ([]Problem, error) {
	wf, err := modfile.ParseWork(path, data, nil)
	if err != nil {
		return nil, err
	}
	var probs []Problem
	seen := map[string]bool{}  // "path version" of each k8s1m replace
	named := map[string]bool{} // module paths with a line, right or wrong
	for _, r := range wf.Replace {
		if !isSibling(r.Old.Path) {
			continue
		}
		line := r.Syntax.Start.Line
		bad := func(format string, args ...any) {
			probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
		}
		key := r.Old.Path + " " + r.Old.Version
		if seen[key] {
			bad("replace %s %s appears more than once", r.Old.Path, r.Old.Version)
			continue
		}
		seen[key] = true
		named[r.Old.Path] = true
		rel, ok := f.Release(strings.TrimPrefix(r.Old.Path, versions.ModulePathPrefix))
		switch {
		case !ok:
			bad("replace %s: the module has no release in versions.txt", r.Old.Path)
		case r.Old.Version == "":
			bad("replace %s => %s names no version (Go refuses to replace a workspace module at all versions); want %s", r.Old.Path, format(r.New.Path, r.New.Version), directive(rel))
		case r.Old.Version != rel.Version:
			bad("replace %s %s: the released version is %s; want %s", r.Old.Path, r.Old.Version, rel.Version, directive(rel))
		case r.New.Version != "" || r.New.Path != dir(rel):
			bad("replace %s %s => %s: want the module's directory, %s", r.Old.Path, r.Old.Version, format(r.New.Path, r.New.Version), directive(rel))
		}
	}
	for _, rel := range f.Releases {
		if !named[rel.Path()] {
			probs = append(probs, Problem{Msg: "missing " + directive(rel)})
		}
	}
	return probs, nil
}

// Rewrite returns data (the contents of go.work; path is for error messages)
// with its k8s1m replace directives set to f's releases. Those directives are
// the tool's: it writes them sorted by module, in one block (the block that
// held the first of them, or a new one where the first stood or at the end).
// Other directives and comments are kept. data is returned as it is when it
// already agrees.
func Rewrite(path string, data []byte, f *versions.File) ([]byte, error) {
	probs, err := Problems(path, data, f)
	if err != nil {
		return nil, err
	}
	if len(probs) == 0 {
		return data, nil
	}
	wf, err := modfile.ParseWork(path, data, nil)
	if err != nil {
		return nil, err
	}
	sibling := map[*modfile.Line]bool{}
	for _, r := range wf.Replace {
		if isSibling(r.Old.Path) {
			sibling[r.Syntax] = true
		}
	}
	block, at := target(wf.Syntax, sibling)
	for _, r := range wf.Replace {
		if isSibling(r.Old.Path) {
			if err := wf.DropReplace(r.Old.Path, r.Old.Version); err != nil {
				return nil, fmt.Errorf("drop replace %s: %w", r.Old.Path, err)
			}
		}
	}
	if block == nil {
		block = &modfile.LineBlock{Token: []string{"replace"}}
		wf.Syntax.Stmt = slices.Insert(wf.Syntax.Stmt, at, modfile.Expr(block))
	}
	rels := slices.Clone(f.Releases)
	slices.SortFunc(rels, func(a, b versions.Release) int { return strings.Compare(a.Path(), b.Path()) })
	for _, rel := range rels {
		block.Line = append(block.Line, &modfile.Line{
			Token:   []string{modfile.AutoQuote(rel.Path()), rel.Version, "=>", modfile.AutoQuote(dir(rel))},
			InBlock: true,
		})
	}
	wf.Cleanup()
	out := modfile.Format(wf.Syntax)
	// The edit works on the syntax tree; prove the result parses and agrees.
	if probs, err := Problems(path, out, f); err != nil || len(probs) > 0 {
		return nil, fmt.Errorf("rewritten %s does not agree with versions.txt (a bug): %v %v", path, err, probs)
	}
	return out, nil
}

// target finds where Rewrite puts the k8s1m directives: the first replace
// block holding one of the sibling lines, or else (block nil) the statement
// index of the first single-line sibling replace, or the end of the file.
func target(syntax *modfile.FileSyntax, sibling map[*modfile.Line]bool) (*modfile.LineBlock, int) {
	for i, stmt := range syntax.Stmt {
		switch s := stmt.(type) {
		case *modfile.Line:
			if sibling[s] {
				return nil, i
			}
		case *modfile.LineBlock:
			if slices.ContainsFunc(s.Line, func(l *modfile.Line) bool { return sibling[l] }) {
				return s, i
			}
		}
	}
	return nil, len(syntax.Stmt)
}

func isSibling(modPath string) bool { return strings.HasPrefix(modPath, versions.ModulePathPrefix) }

// dir is the replacement directory of a release, relative to go.work.
func dir(r versions.Release) string { return "./" + r.Dir }

func directive(r versions.Release) string {
	return fmt.Sprintf("replace %s %s => %s", r.Path(), r.Version, dir(r))
}

func format(path, version string) string {
	if version == "" {
		return path
	}
	return path + " " + version
}
