#!/usr/bin/env bash
# The offline part of `make demo` (all of it without root; see examples/demo.py): convert a legacy MetalLB
# ConfigMap into CRs, validate them, print them, plan which IP each Service gets. No cluster needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYMETALLB=.venv/bin/pymetallb
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== pymetallb migrate examples/legacy-configmap.yaml"
$PYMETALLB migrate examples/legacy-configmap.yaml -o "$out/crs.yaml"
echo
echo "== pymetallb validate -f <converted CRs>"
$PYMETALLB validate -f "$out/crs.yaml"
echo
echo "== the converted CRs"
cat "$out/crs.yaml"
echo
echo "== pymetallb plan -f examples/cluster   (which IP each Service gets; no cluster needed)"
$PYMETALLB plan -f examples/cluster
