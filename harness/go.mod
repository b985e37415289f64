// Module harness is the process-and-PKI kit that localcluster and the other
// modules' integration tests use to run the real binaries: find them, start each
// as its own process with its own log, wait until ready, measure and stop them,
// generate the certificates a kube-apiserver needs, and write the kwok
// controllers' configuration.
module github.com/k8s1m/k8s1m/harness

go 1.26.0

require (
	sigs.k8s.io/kwok v0.8.0
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.3 // indirect
