// Package check reads the terraform/ deployment as data: terraform modules
// through the HCL parser (what each declares, calls and references), the
// versions it deploys, the Kubernetes manifests it renders and the metric
// names its dashboard queries. The tests in this package hold the
// deployment to the repository: versions.txt, the running binaries, and a
// real kube-apiserver.
package check
