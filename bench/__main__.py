"""Run every benchmark: `python -m bench` (what `make bench` does).

Every module ``bench/bench_*.py`` with a ``main()`` runs, in name order; ``python -m bench l2 bgp`` runs only
the named ones (``bench_l2``, ``bench_bgp``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    wanted = {f"bench_{a.removeprefix('bench_')}" for a in argv}
    unknown = wanted - set(names)
    if unknown:
        sys.stderr.write(f"unknown benchmarks: {', '.join(sorted(unknown))}; have {', '.join(names)}\n")
        return 2
    for name in names:
        if wanted and name not in wanted:
            continue
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
