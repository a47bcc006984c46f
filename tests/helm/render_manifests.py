"""``config/manifests/pymetallb.yaml``: the chart rendered with its defaults for ``kubectl apply`` users.

The namespace ``metallb-system`` comes first (pod-security ``privileged``: the speaker uses the host network
and NET_RAW), then what ``helm template`` renders. ``--write`` rewrites the file (``make chart``); ``--check``
exits 1 when it is stale. The chart tests check it too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helmtool import REPO, template_text

MANIFEST = REPO / "config" / "manifests" / "pymetallb.yaml"
NAMESPACE = """\
# pymetallb for kubectl: `kubectl apply -f config/manifests/pymetallb.yaml`.
# Generated from charts/pymetallb with its default values (`make chart`); do not edit by hand.
apiVersion: v1
kind: Namespace
metadata:
  name: metallb-system
  labels:
    pod-security.kubernetes.io/enforce: privileged
    pod-security.kubernetes.io/audit: privileged
    pod-security.kubernetes.io/warn: privileged
"""


def manifest() -> str:
    return NAMESPACE + template_text(namespace="metallb-system")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="render config/manifests/pymetallb.yaml from the chart")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    text = manifest()
    if args.write:
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        MANIFEST.write_text(text)
        return 0
    if not MANIFEST.exists() or MANIFEST.read_text() != text:
        sys.stderr.write(f"{MANIFEST.relative_to(REPO)}: stale, run `make chart`\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
