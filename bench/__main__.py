"""Run every benchmark: `python -m bench` (what `make bench` does)."""

from __future__ import annotations

import sys

from bench import bench_allocate, bench_controller, bench_offline, bench_parse, bench_webhook


def main() -> int:
    bench_parse.main()
    bench_allocate.main()
    bench_webhook.main()
    bench_offline.main()
    bench_controller.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
