// Module scalemodel predicts what a k8s1m cluster of N nodes and P pods needs
// from the per-unit costs the other modules measure (docs/scale-costs.json).
// It is a tool, not a released product.
module github.com/k8s1m/k8s1m/tools/scalemodel

go 1.26.0

require (
	github.com/hashicorp/hcl/v2 v2.25.0
	github.com/k8s1m/k8s1m/cli v0.3.0
	github.com/k8s1m/k8s1m/harness v0.3.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.1.0
)

require (
	github.com/agext/levenshtein v1.2.1 // indirect
	github.com/apparentlymart/go-textseg/v15 v15.0.0 // indirect
	github.com/apparentlymart/go-textseg/v17 v17.0.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/mitchellh/go-wordwrap v1.0.1 // indirect
	github.com/rs/zerolog v1.35.1 // indirect
	github.com/zclconf/go-cty v1.19.0 // indirect
	golang.org/x/mod v0.41.0 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	golang.org/x/tools v0.49.0 // indirect
)
