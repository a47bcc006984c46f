"""Run every benchmark: `python -m bench` (what `make bench` does)."""

from __future__ import annotations

import sys

from bench import bench_allocate, bench_parse


def main() -> int:
    bench_parse.main()
    bench_allocate.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
