package check

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// findLocal returns the attribute defining local.<name> in file, and the file's source.
func findLocal(file, name string) (*hclsyntax.Attribute, []byte, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, nil, diags
	}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if a, ok := b.Body.Attributes[name]; ok && b.Type == "locals" {
			return a, src, nil
		}
	}
	return nil, nil, fmt.Errorf("%s: no local %q", file, name)
}

// LocalStringMap evaluates local.<name> in file, which must be a literal map
// of strings (the versions file's maps are).
func LocalStringMap(file, name string) (map[string]string, error) {
	a, _, err := findLocal(file, name)
	if err != nil {
		return nil, err
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return nil, fmt.Errorf("local.%s must be a literal map: %w", name, diags)
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return nil, fmt.Errorf("%s: local.%s is %s, want a map", a.SrcRange, name, v.Type().FriendlyName())
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.Type() != cty.String {
			return nil, fmt.Errorf("%s: local.%s[%q] is not a string", a.SrcRange, name, k)
		}
		out[k] = e.AsString()
	}
	return out, nil
}

// LocalStringMapExprs returns the source text of each entry of local.<name>,
// a literal object whose values may be templates.
func LocalStringMapExprs(file, name string) (map[string]string, error) {
	a, src, err := findLocal(file, name)
	if err != nil {
		return nil, err
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, fmt.Errorf("%s: local.%s is not an object literal", a.SrcRange, name)
	}
	out := map[string]string{}
	for _, item := range obj.Items {
		k, diags := item.KeyExpr.Value(nil)
		if diags.HasErrors() || k.Type() != cty.String {
			return nil, fmt.Errorf("%s: local.%s: key is not a literal string", item.KeyExpr.Range(), name)
		}
		out[k.AsString()] = string(item.ValueExpr.Range().SliceBytes(src))
	}
	return out, nil
}
