package check

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Module is one terraform module directory as the parser sees it.
type Module struct {
	Dir       string
	Variables map[string]Variable
	Locals    map[string]hcl.Range
	Outputs   map[string]hcl.Range
	Calls     map[string]Call
	// Refs are the var.*, local.* and module.*.* references in every
	// expression of the module.
	Refs []Ref
}

// Variable is a declared input.
type Variable struct {
	Typed, HasDefault, Described bool
	Range                        hcl.Range
}

// Call is a module block.
type Call struct {
	Name, Source string
	Args         map[string]hcl.Range // arguments other than meta-arguments
	Range        hcl.Range
}

// Ref is a reference: Kind is var, local or module; Name the first attribute
// after it; Attr the second (the output, for module references).
type Ref struct {
	Kind, Name, Attr string
	Range            hcl.Range
}

// metaArgs are module block arguments that are not the callee's variables.
var metaArgs = map[string]bool{"source": true, "version": true, "count": true, "for_each": true, "providers": true, "depends_on": true}

var fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "locals"},
	{Type: "output", LabelNames: []string{"name"}},
	{Type: "module", LabelNames: []string{"name"}},
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "provider", LabelNames: []string{"name"}},
	{Type: "terraform"},
	{Type: "moved"}, {Type: "import"}, {Type: "removed"}, {Type: "check", LabelNames: []string{"name"}},
}}

// LoadModule parses every .tf file of dir.
func LoadModule(dir string) (*Module, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .tf files", dir)
	}
	sort.Strings(files)
	m := &Module{Dir: dir, Variables: map[string]Variable{}, Locals: map[string]hcl.Range{},
		Outputs: map[string]hcl.Range{}, Calls: map[string]Call{}}
	p := hclparse.NewParser()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		file, diags := p.ParseHCL(src, f)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse: %w", diags)
		}
		if err := m.add(file.Body.(*hclsyntax.Body)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Module) add(body *hclsyntax.Body) error {
	if _, diags := body.Content(fileSchema); diags.HasErrors() {
		return fmt.Errorf("unexpected top-level content: %w", diags)
	}
	for _, b := range body.Blocks {
		m.collectRefs(b.Body)
		switch b.Type {
		case "variable":
			v := Variable{Range: b.DefRange()}
			_, v.Typed = b.Body.Attributes["type"]
			_, v.HasDefault = b.Body.Attributes["default"]
			_, v.Described = b.Body.Attributes["description"]
			if _, dup := m.Variables[b.Labels[0]]; dup {
				return fmt.Errorf("%s: variable %q declared twice", b.DefRange(), b.Labels[0])
			}
			m.Variables[b.Labels[0]] = v
		case "locals":
			for name, a := range b.Body.Attributes {
				if _, dup := m.Locals[name]; dup {
					return fmt.Errorf("%s: local %q declared twice", a.NameRange, name)
				}
				m.Locals[name] = a.NameRange
			}
		case "output":
			m.Outputs[b.Labels[0]] = b.DefRange()
		case "module":
			c := Call{Name: b.Labels[0], Args: map[string]hcl.Range{}, Range: b.DefRange()}
			for name, a := range b.Body.Attributes {
				if name == "source" {
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() {
						return fmt.Errorf("%s: module source must be a literal string", a.SrcRange)
					}
					c.Source = v.AsString()
					continue
				}
				if !metaArgs[name] {
					c.Args[name] = a.NameRange
				}
			}
			m.Calls[c.Name] = c
		}
	}
	return nil
}

// collectRefs walks body (and nested blocks) for var., local. and module.
// traversals.
func (m *Module) collectRefs(body *hclsyntax.Body) {
	for _, a := range body.Attributes {
		for _, t := range a.Expr.Variables() {
			root := t.RootName()
			if root != "var" && root != "local" && root != "module" {
				continue
			}
			r := Ref{Kind: root, Range: t.SourceRange()}
			if len(t) > 1 {
				if at, ok := t[1].(hcl.TraverseAttr); ok {
					r.Name = at.Name
				}
			}
			if root == "module" {
				// module.NAME[idx].OUTPUT or module.NAME.OUTPUT
				for _, step := range t[2:] {
					if at, ok := step.(hcl.TraverseAttr); ok {
						r.Attr = at.Name
						break
					}
				}
			}
			m.Refs = append(m.Refs, r)
		}
	}
	for _, b := range body.Blocks {
		m.collectRefs(b.Body)
	}
}

// Problems lists what is wrong with m on its own and with its calls, given
// load to read callee modules: untyped or undescribed variables, references
// to undeclared variables, locals, module calls or outputs, module sources
// that are not local directories, arguments that are not the callee's
// variables, and callee variables without a default that the call omits.
func (m *Module) Problems(load func(dir string) (*Module, error)) []string {
	var probs []string
	add := func(r hcl.Range, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("%s: %s", r, fmt.Sprintf(format, args...)))
	}
	for name, v := range m.Variables {
		if !v.Typed {
			add(v.Range, "variable %q has no type", name)
		}
		if !v.Described {
			add(v.Range, "variable %q has no description", name)
		}
	}
	callees := map[string]*Module{}
	for name, c := range m.Calls {
		if !strings.HasPrefix(c.Source, "./") && !strings.HasPrefix(c.Source, "../") {
			add(c.Range, "module %q: source %q is not a local path in this repository", name, c.Source)
			continue
		}
		callee, err := load(filepath.Join(m.Dir, c.Source))
		if err != nil {
			add(c.Range, "module %q: source %q: %v", name, c.Source, err)
			continue
		}
		callees[name] = callee
		for arg, r := range c.Args {
			if _, ok := callee.Variables[arg]; !ok {
				add(r, "module %q: %q is not a variable of %s", name, arg, c.Source)
			}
		}
		for v, decl := range callee.Variables {
			if _, given := c.Args[v]; !given && !decl.HasDefault {
				add(c.Range, "module %q: required variable %q of %s not given", name, v, c.Source)
			}
		}
	}
	for _, r := range m.Refs {
		switch r.Kind {
		case "var":
			if _, ok := m.Variables[r.Name]; !ok {
				add(r.Range, "var.%s is not declared", r.Name)
			}
		case "local":
			if _, ok := m.Locals[r.Name]; !ok {
				add(r.Range, "local.%s is not declared", r.Name)
			}
		case "module":
			c, ok := m.Calls[r.Name]
			if !ok {
				add(r.Range, "module.%s is not called here", r.Name)
				continue
			}
			if callee := callees[c.Name]; callee != nil && r.Attr != "" {
				if _, ok := callee.Outputs[r.Attr]; !ok {
					add(r.Range, "module.%s.%s: %s has no such output", r.Name, r.Attr, c.Source)
				}
			}
		}
	}
	sort.Strings(probs)
	return probs
}

// ModuleDirs lists the directories under root that hold .tf files, skipping
// .terraform and hidden directories.
func ModuleDirs(root string) ([]string, error) {
	seen := map[string]bool{}
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			if dir := filepath.Dir(path); !seen[dir] {
				seen[dir] = true
				dirs = append(dirs, dir)
			}
		}
		return nil
	})
	sort.Strings(dirs)
	return dirs, err
}
