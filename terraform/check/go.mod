// Module check holds the offline checks of the terraform/ deployment: every
// terraform module parses and is wired consistently, versions agree with
// versions.txt, no personal host is hard-coded, the rendered Kubernetes
// manifests are accepted by a real kube-apiserver, and the dashboard asks for
// metrics the binaries export. It is not released.
module github.com/k8s1m/k8s1m/terraform/check

go 1.26.0

require (
	github.com/hashicorp/hcl/v2 v2.25.0
	github.com/zclconf/go-cty v1.19.0
)

require (
	github.com/agext/levenshtein v1.2.1 // indirect
	github.com/apparentlymart/go-textseg/v15 v15.0.0 // indirect
	github.com/apparentlymart/go-textseg/v17 v17.0.1 // indirect
	github.com/mitchellh/go-wordwrap v1.0.1 // indirect
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	golang.org/x/mod v0.29.0 // indirect
	golang.org/x/sync v0.18.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	golang.org/x/tools v0.38.0 // indirect
)

require (
	github.com/k8s1m/k8s1m/harness v0.3.0
	golang.org/x/sys v0.50.0
	sigs.k8s.io/yaml v1.6.0
)
