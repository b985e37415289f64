// Module harness is the process-and-PKI kit that localcluster and the other
// modules' integration tests use to run the real binaries: find them, start each
// as its own process with its own log, wait until ready, measure and stop them,
// and generate the certificates a kube-apiserver needs.
module github.com/k8s1m/k8s1m/harness

go 1.26.0
