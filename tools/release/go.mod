// Module release holds the workspace's release and consistency tooling: the
// versions file, the local module proxy used to build modules alone, the pin
// check, and the image builder. It is a tool, not a released product.
module github.com/k8s1m/k8s1m/tools/release

go 1.26.0

require golang.org/x/mod v0.43.0
