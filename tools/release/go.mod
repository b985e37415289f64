// Module release holds the workspace's release and consistency tooling: the
// versions file, the local module proxy used to build modules alone, the pin
// check, and the image builder. It is a tool, not a released product.
module github.com/k8s1m/k8s1m/tools/release

go 1.26.0

require golang.org/x/mod v0.43.0

require (
	github.com/google/go-containerregistry v0.22.1
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
