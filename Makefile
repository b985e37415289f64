# k8s1m developer entry points. `make run` is the main job, `make test` runs every
# test (what CI runs). Binaries land in bin/; tests find them there (K8S1M_BIN).
SHELL := /bin/bash
BIN   := $(CURDIR)/bin
export K8S1M_BIN := $(BIN)
# Builds that compile k8s.io/kubernetes or etcd take minutes and most of the
# machine: one at a time, whoever asks (helpers, tests, CI), via this lock.
HEAVY := flock /tmp/k8s1m-heavy-build.lock

pin = $(shell awk '$$1=="pin" && $$2=="$(1)" {print $$3}' versions.txt)
KWOK_VERSION      := $(call pin,sigs.k8s.io/kwok)
STATICCHECK       := $(call pin,honnef.co/go/tools)
PROTOC_GEN_GO      := $(call pin,google.golang.org/protobuf/cmd/protoc-gen-go)
PROTOC_GEN_GO_GRPC := $(call pin,google.golang.org/grpc/cmd/protoc-gen-go-grpc)
BUF                := $(call pin,github.com/bufbuild/buf)

# Modules in the workspace, in dependency order.
MODULES := cli harness proto relay memetcd makenodes wggateway distscheduler localcluster tools/release tools/scalemodel terraform/check
# Binaries built from the workspace (module dir/cmd/name).
WORKSPACE_BINS := memetcd relay distscheduler makenodes wggateway localcluster
# Upstream binaries built at the pinned versions.
UPSTREAM_BINS := kube-apiserver kube-scheduler kube-controller-manager kubectl etcd etcdctl kwok

.PHONY: run test test-unit tools bins lint check proxy tidy proto proto-check release clean terraform-fmt
.DEFAULT_GOAL := help
.PHONY: help

help:
	@echo "make run    - build everything and run the local cluster-in-a-box (the main job)"
	@echo "make test   - build every binary and run all tests, lint and checks (what CI runs)"
	@echo "make tools  - build upstream binaries (kube-apiserver, kube-scheduler, kube-controller-manager, kubectl, etcd, etcdctl, kwok) into bin/"
	@echo "make bins   - build this workspace's binaries into bin/"
	@echo "make check  - modules build alone, pins agree, generated code is fresh"
	@echo "make lint   - gofmt, go vet, staticcheck"
	@echo "make proto  - lint the protocol and regenerate its Go code (proto/)"
	@echo "make proto-check - generated code fresh, buf lint, buf breaking against the last release"
	@echo "make terraform-fmt - terraform/ is formatted as tofu fmt writes it (OpenTofu at its pin, bin/tofu)"

run: tools bins
	$(BIN)/localcluster run

# bin/tofu: terraform/'s checks (not needed by `make run`).
test: tools $(BIN)/tofu bins check lint test-unit

# hack/test-modules.sh says which packages run without -race, and why.
test-unit:
	hack/test-modules.sh $(MODULES)
	@echo "== memetcd server and kube-apiserver suites on grpc-go's server (the default is the lean transport)"
	cd memetcd && MEMETCD_TRANSPORT=grpc go test -count=1 -race ./server/ ./kubetest/

tools: $(addprefix $(BIN)/,$(UPSTREAM_BINS))

$(BIN)/kube-apiserver $(BIN)/kube-scheduler $(BIN)/kube-controller-manager $(BIN)/kubectl: tools/kube/go.mod
	cd tools/kube && GOWORK=off $(HEAVY) go build -o $@ k8s.io/kubernetes/cmd/$(notdir $@)

$(BIN)/etcd: tools/etcd/go.mod
	cd tools/etcd && GOWORK=off $(HEAVY) go build -o $@ go.etcd.io/etcd/server/v3
$(BIN)/etcdctl: tools/etcd/go.mod
	cd tools/etcd && GOWORK=off $(HEAVY) go build -o $@ go.etcd.io/etcd/etcdctl/v3

# OpenTofu for terraform/ (fmt, and rendering in terraform/check). Its go.mod
# replaces hcl with its fork, so `go install tofu@v` refuses: tools/tofu
# requires it at the pin and carries the same replace. A cold build is ~13
# CPU-minutes (1,800 packages); with a warm build cache it links in ~20 s.
$(BIN)/tofu: tools/tofu/go.mod
	cd tools/tofu && GOWORK=off $(HEAVY) go build -o $@ github.com/opentofu/opentofu/cmd/tofu
bin/tofu: $(BIN)/tofu

$(BIN)/kwok:
	GOBIN=$(BIN) GOWORK=off go install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

# Short names from the repo root (`make bin/etcd`), as test skip messages say.
$(addprefix bin/,$(UPSTREAM_BINS)): bin/%: $(BIN)/%

# Workspace binaries are always rebuilt (go's cache makes that cheap).
bins:
	@set -e; for b in $(WORKSPACE_BINS); do $(HEAVY) go build -o $(BIN)/$$b ./$$b/cmd/$$b; done

proxy:
	go run ./tools/release/cmd/release proxy

check: proto-check terraform-fmt
	go run ./tools/release/cmd/release check

terraform-fmt: $(BIN)/tofu
	TF_CLI_CONFIG_FILE=/dev/null $(BIN)/tofu fmt -check -recursive -diff terraform

# Protocol tools at the pinned versions, built from source into bin/. The stamp
# file names the versions, so changing a pin rebuilds them.
PROTO_TOOLS := $(BIN)/.proto-tools-$(BUF)-$(PROTOC_GEN_GO)-$(PROTOC_GEN_GO_GRPC)
$(PROTO_TOOLS):
	GOBIN=$(BIN) GOWORK=off go install github.com/bufbuild/buf/cmd/buf@$(BUF)
	GOBIN=$(BIN) GOWORK=off go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	GOBIN=$(BIN) GOWORK=off go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	rm -f $(BIN)/.proto-tools-* && touch $@

proto: $(PROTO_TOOLS)
	cd proto && PATH=$(BIN):$$PATH buf lint && PATH=$(BIN):$$PATH buf generate

proto-check: $(PROTO_TOOLS)
	PATH=$(BIN):$$PATH proto/check.sh

# go vet runs in `make check`, on each module alone (GOWORK=off).
lint: $(BIN)/staticcheck-$(STATICCHECK)
	@bad=$$(git ls-files '*.go' | grep -v '\.pb\.go$$' | xargs gofmt -l); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "== staticcheck $$m"; (cd $$m && $(BIN)/staticcheck-$(STATICCHECK) ./...); done

$(BIN)/staticcheck-$(STATICCHECK):
	GOBIN=$(BIN) GOWORK=off go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK)
	mv $(BIN)/staticcheck $@

clean:
	rm -rf $(BIN) dist .cache
