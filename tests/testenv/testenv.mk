# Test environment: a real kube-apiserver (+ embedded etcd) and kubectl, built
# from Go modules into .testenv/bin/. Included by the top-level Makefile.
#
#   make testenv   build .testenv/bin/test-apiserver and .testenv/bin/kubectl
#                  (nothing to do when they are newer than the Go sources)
#   make cluster   run the test apiserver in the foreground, apply crds/*.yaml,
#                  print KUBECONFIG=<path> when ready; Ctrl-C stops it.
#                  CLUSTER_KEEP=1 keeps the data of the previous run.
#                  CLUSTER_BIND=IP serves on IP instead of 127.0.0.1 (an
#                  address of this host, e.g. 192.0.2.1 on lo for namespaces).
#
# See docs/testing.md. Go module and build caches stay where Go puts them
# (GOMODCACHE, GOCACHE); only the two binaries land in .testenv/.

TESTENV_DIR := tests/testenv
TESTENV_BIN := .testenv/bin
TESTENV_GO ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
# The Kubernetes release is whatever go.mod requires (see gen-gomod.sh).
TESTENV_K8S_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2; exit }' $(TESTENV_DIR)/go.mod)
TESTENV_K8S_MINOR := $(word 2,$(subst ., ,$(TESTENV_K8S_VERSION)))
TESTENV_VERSION_PKG := k8s.io/component-base/version
TESTENV_LDFLAGS := -s -w \
	-X $(TESTENV_VERSION_PKG).gitVersion=$(TESTENV_K8S_VERSION) \
	-X $(TESTENV_VERSION_PKG).gitMajor=1 \
	-X $(TESTENV_VERSION_PKG).gitMinor=$(TESTENV_K8S_MINOR) \
	-X $(TESTENV_VERSION_PKG).gitTreeState=clean
# -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
TESTENV_GOENV := CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
TESTENV_GOBUILD := $(TESTENV_GOENV) $(TESTENV_GO) build -trimpath -ldflags '$(TESTENV_LDFLAGS)'
TESTENV_GOMOD := $(TESTENV_DIR)/go.mod $(TESTENV_DIR)/go.sum
TESTENV_SRCS := $(shell find $(TESTENV_DIR) -name '*.go' 2>/dev/null)
TESTENV_PYTHON ?= $(or $(PYTHON),python3)

.PHONY: testenv cluster

testenv: $(TESTENV_BIN)/test-apiserver $(TESTENV_BIN)/kubectl

# `go build -o` leaves an up-to-date binary untouched, hence the touch.
$(TESTENV_BIN)/test-apiserver: $(TESTENV_SRCS) $(TESTENV_GOMOD) $(TESTENV_DIR)/testenv.mk
	@mkdir -p $(@D)
	cd $(TESTENV_DIR) && $(TESTENV_GOBUILD) -o $(abspath $@) ./cmd/test-apiserver
	@touch $@

$(TESTENV_BIN)/kubectl: $(TESTENV_GOMOD) $(TESTENV_DIR)/testenv.mk
	@mkdir -p $(@D)
	cd $(TESTENV_DIR) && $(TESTENV_GOBUILD) -o $(abspath $@) k8s.io/kubernetes/cmd/kubectl
	@touch $@

cluster: testenv
	@$(TESTENV_PYTHON) $(TESTENV_DIR)/cluster.py --bin-dir $(TESTENV_BIN) --data-dir .testenv/cluster \
		--crds crds $(if $(CLUSTER_KEEP),--keep) $(if $(CLUSTER_BIND),--bind-address $(CLUSTER_BIND))
