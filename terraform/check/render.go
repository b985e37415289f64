package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Call is one module block of a generated root module: its source directory
// and its arguments (JSON values).
type RenderCall struct {
	Dir  string
	Args map[string]any
}

// Render writes a root module that calls each of calls (modules without
// providers) and outputs the outputs named in outputs (name => "module.x.y"),
// applies it with the OpenTofu binary tofu in dir, and returns the outputs'
// values. Nothing leaves the machine: a root without providers needs no
// download.
func Render(ctx context.Context, tofu, dir string, calls map[string]RenderCall, outputs map[string]string) (map[string]json.RawMessage, error) {
	root := map[string]any{}
	mods := map[string]any{}
	for name, c := range calls {
		rel, err := filepath.Rel(dir, c.Dir)
		if err != nil {
			return nil, err
		}
		block := map[string]any{"source": "./" + filepath.ToSlash(rel)}
		for k, v := range c.Args {
			block[k] = escapeTemplates(v)
		}
		mods[name] = block
	}
	root["module"] = mods
	outs := map[string]any{}
	for name, ref := range outputs {
		outs[name] = map[string]any{"value": "${" + ref + "}", "sensitive": true}
	}
	root["output"] = outs
	data, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf.json"), data, 0o644); err != nil {
		return nil, err
	}
	cli := filepath.Join(dir, "tofurc")
	if err := os.WriteFile(cli, nil, 0o644); err != nil {
		return nil, err
	}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, tofu, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cli, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1", "HOME="+dir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("tofu %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.Bytes(), nil
	}
	if _, err := run("init", "-input=false", "-no-color"); err != nil {
		return nil, err
	}
	if _, err := run("apply", "-auto-approve", "-input=false", "-no-color"); err != nil {
		return nil, err
	}
	out, err := run("output", "-json", "-no-color")
	if err != nil {
		return nil, err
	}
	var parsed map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(out, &parsed); err != nil {
		return nil, fmt.Errorf("tofu output: %w", err)
	}
	values := map[string]json.RawMessage{}
	for k, v := range parsed {
		values[k] = v.Value
	}
	return values, nil
}

// escapeTemplates makes strings literal in terraform's JSON syntax, where
// every string is a template.
func escapeTemplates(v any) any {
	switch x := v.(type) {
	case string:
		return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(x)
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = escapeTemplates(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = escapeTemplates(e)
		}
		return out
	}
	return v
}
