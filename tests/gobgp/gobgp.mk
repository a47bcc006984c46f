# GoBGP test peer: gobgpd and gobgp built from the Go module github.com/osrg/gobgp/v3 (version pinned in
# tests/gobgp/go.mod and go.sum) into .testenv/bin/. Included by the top-level Makefile.
#
#   make gobgp     build .testenv/bin/gobgpd and .testenv/bin/gobgp
#                  (nothing to do when they are newer than go.mod, go.sum and this file)
#
# The BGP component tests (tests/component/test_bgp_gobgp.py) run these; in CI a missing gobgpd fails them.

GOBGP_DIR := tests/gobgp
GOBGP_BIN := .testenv/bin
GOBGP_GO ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
# -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
GOBGP_GOBUILD := CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local $(GOBGP_GO) build -trimpath -ldflags '-s -w'
GOBGP_DEPS := $(GOBGP_DIR)/go.mod $(GOBGP_DIR)/go.sum $(GOBGP_DIR)/tools.go $(GOBGP_DIR)/gobgp.mk

.PHONY: gobgp

gobgp: $(GOBGP_BIN)/gobgpd $(GOBGP_BIN)/gobgp

# `go build -o` leaves an up-to-date binary untouched, hence the touch.
$(GOBGP_BIN)/gobgpd $(GOBGP_BIN)/gobgp: $(GOBGP_BIN)/%: $(GOBGP_DEPS)
	@mkdir -p $(@D)
	cd $(GOBGP_DIR) && $(GOBGP_GOBUILD) -o $(abspath $@) github.com/osrg/gobgp/v3/cmd/$*
	@touch $@
