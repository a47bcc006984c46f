# Chart tools: helm and promql-check, built from Go modules into .testenv/bin/. Included by the top-level
# Makefile (`include tests/helm/helm.mk`), like tests/testenv/testenv.mk.
#
#   make helm       build .testenv/bin/helm (helm.sh/helm/v3, the version tests/helm/go.mod requires) and
#                   .testenv/bin/promql-check (Prometheus's own PromQL parser, tests/helm/promql/go.mod);
#                   nothing to do when they are newer than their go.mod/go.sum
#   make chart      regenerate the chart's generated templates (CRDs, webhook configuration, dashboard)
#                   and config/manifests/pymetallb.yaml (needs helm)
#
# Go module and build caches stay where Go puts them (GOMODCACHE, GOCACHE).

HELM_DIR := tests/helm
HELM_BIN := .testenv/bin
HELM_GO ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
HELM_VERSION := $(shell awk '$$1 == "helm.sh/helm/v3" { print $$2; exit }' $(HELM_DIR)/go.mod)
# As helm's own Makefile: its version, and the Kubernetes version `helm template`/`lint` assume (the client-go
# minor it is built with; without it helm assumes v1.20 and refuses the chart's kubeVersion).
HELM_K8S_MINOR := $(word 2,$(subst ., ,$(shell awk '$$1 == "k8s.io/client-go" { print $$2; exit }' $(HELM_DIR)/go.mod)))
HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_K8S_MINOR) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_K8S_MINOR)
# -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
HELM_GOENV := CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
HELM_PYTHON ?= $(or $(wildcard $(CURDIR)/.venv/bin/python),python3)

.PHONY: helm chart

helm: $(HELM_BIN)/helm $(HELM_BIN)/promql-check

# `go build -o` leaves an up-to-date binary untouched, hence the touch.
$(HELM_BIN)/helm: $(HELM_DIR)/go.mod $(HELM_DIR)/go.sum $(HELM_DIR)/helm.mk
	@mkdir -p $(@D)
	cd $(HELM_DIR) && $(HELM_GOENV) $(HELM_GO) build -trimpath -ldflags '$(HELM_LDFLAGS)' -o $(abspath $@) helm.sh/helm/v3/cmd/helm
	@touch $@

$(HELM_BIN)/promql-check: $(HELM_DIR)/promql/go.mod $(HELM_DIR)/promql/go.sum $(wildcard $(HELM_DIR)/promql/cmd/promql-check/*.go) $(HELM_DIR)/helm.mk
	@mkdir -p $(@D)
	cd $(HELM_DIR)/promql && $(HELM_GOENV) $(HELM_GO) build -trimpath -ldflags '-s -w' -o $(abspath $@) ./cmd/promql-check
	@touch $@

chart: venv $(HELM_BIN)/helm
	$(HELM_PYTHON) $(HELM_DIR)/chartgen.py --write
	$(HELM_PYTHON) $(HELM_DIR)/render_manifests.py --write
