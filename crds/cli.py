"""The ``pymetallb`` command: offline subcommands here, program subcommands registered by entry points.

``crds``, ``migrate`` and ``validate`` live in this package. The programs (``controller``, ``speaker``,
``webhook``, ``plan``) register themselves under the ``pymetallb.commands`` entry-point group, so this
module imports nothing of theirs and the layering (``crds`` imports nothing of ours) holds.

Exit codes: 0 success, 1 the input has problems, 2 usage errors. No traceback reaches the user.
A subcommand that sets ``short_lived=True`` in its defaults runs without the cyclic garbage collector.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO

from .errors import LegacyConfigError
from .manifests import read_documents

__all__ = ["main"]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]

_OWN_COMMANDS = frozenset({"crds", "validate", "migrate"})


def _cmd_crds(args: argparse.Namespace) -> int:
    from .schema import render_crds, write_crds

    if args.write:
        write_crds(Path(args.write), log=lambda m: print(m, file=sys.stderr))
        return EXIT_OK
    sys.stdout.write("".join(render_crds().values()))
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate_documents

    docs, read_errors = read_documents(args.filename, stdin=args.stdin)
    usage = [e for e in read_errors if e.what == "no such file or directory"]
    for err in read_errors:
        print(err.line(), file=sys.stdout if err not in usage else sys.stderr)
    if usage:
        return EXIT_USAGE
    report = validate_documents(docs, namespace=args.namespace, bgp_mode=args.bgp_mode)
    for problem in report.problems:
        stream = sys.stderr if problem.severity == "note" else sys.stdout
        print(problem.line(), file=stream)
    if read_errors or not report.ok:
        return EXIT_PROBLEMS
    count = len(docs)
    print(f"{count} document{'s' if count != 1 else ''} checked, no problems", file=sys.stderr)
    return EXIT_OK


def _cmd_migrate(args: argparse.Namespace) -> int:
    from .legacy import convert_text

    source = args.input
    try:
        if source == "-":
            text = args.stdin.read()
            source = "<stdin>"
        else:
            text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{source}: cannot read: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = convert_text(text, namespace=args.namespace, only_data=args.only_data)
    except LegacyConfigError as exc:
        where = f"{source}: {exc.where}" if exc.where else source
        print(f"{where}: {exc.what}", file=sys.stderr)
        return EXIT_PROBLEMS
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output:
        try:
            Path(args.output).write_text(result.yaml, encoding="utf-8")
        except OSError as exc:
            print(f"{args.output}: cannot write: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        sys.stdout.write(result.yaml)
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser(stdin: TextIO | None = None, *, only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only``, program entry points other than that command are not imported
    (a controller process should not carry the webhook's or the planner's imports; ``""`` imports none)."""
    parser = _Parser(prog="pymetallb", description="Load balancers for bare-metal Kubernetes (MetalLB's API).")
    parser.set_defaults(stdin=stdin or sys.stdin)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("crds", help="print the CRD manifests generated from the models")
    p.add_argument("--write", metavar="DIR", help="write crds/*.yaml into DIR instead of printing")
    p.set_defaults(handler=_cmd_crds, short_lived=True)

    p = sub.add_parser("validate", help="check manifests against the CRD schemas and the config rules")
    p.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="PATH",
        help="file, directory (recursive) or - for stdin; repeatable",
    )
    p.add_argument("-n", "--namespace", default="metallb-system", help="the MetalLB namespace (default %(default)s)")
    p.add_argument(
        "--bgp-mode",
        choices=("native", "frr", "frr-k8s"),
        default="native",
        help="whose BGP restrictions apply (default %(default)s)",
    )
    p.set_defaults(handler=_cmd_validate, short_lived=True)

    p = sub.add_parser("migrate", help="convert a legacy MetalLB ConfigMap into CRs")
    p.add_argument("input", nargs="?", default=None, help="ConfigMap manifest or bare config YAML; - for stdin")
    p.add_argument("-f", "--filename", dest="input_flag", metavar="PATH", help="same as the positional input")
    p.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="namespace of the CRs (default: the ConfigMap's, else metallb-system)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write the CRs to FILE instead of stdout")
    p.add_argument(
        "--only-data",
        action="store_true",
        help="the input is the bare config YAML even if it looks like a ConfigMap",
    )
    live = p.add_argument_group("a live cluster (instead of a file)")
    live.add_argument(
        "--in-cluster", action="store_true", help="read the ConfigMap `config` and the Services from the cluster"
    )
    live.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: $KUBECONFIG, ~/.kube/config)")
    live.add_argument("--allow-moves", action="store_true", help="migrate even if some Services would change IP")
    live.add_argument("--apply", action="store_true", help="apply the CRs (dry run, server-side apply, read back)")
    live.add_argument("--delete-configmap", action="store_true", help="with --apply: delete the ConfigMap afterwards")
    live.add_argument(
        "--lb-class", default=None, help="the loadBalancerClass the controller serves (default: class-less Services)"
    )
    p.set_defaults(handler=_cmd_migrate, short_lived=True)

    for ep in sorted(entry_points(group="pymetallb.commands"), key=lambda e: e.name):
        if only is not None and ep.name != only:
            continue
        register: Callable[[Any], None] = ep.load()
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    programs = {ep.name for ep in entry_points(group="pymetallb.commands")}
    chosen = words[0] if words and words[0] in programs else None
    if words and words[0] in _OWN_COMMANDS:
        chosen = ""  # one of ours: import no program at all (the controller alone costs ~0.3 s of start-up)
    parser = build_parser(stdin, only=chosen)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "migrate" and args.in_cluster:
        if args.input or args.input_flag or args.only_data:
            print("pymetallb migrate: error: --in-cluster reads the cluster; give no input file", file=sys.stderr)
            return EXIT_USAGE
        # The in-cluster migration needs the API client and the allocator, which crds may not import: it is
        # found through its entry point, like the program subcommands.
        found = [ep for ep in entry_points(group="pymetallb.migrate") if ep.name == "in-cluster"]
        if not found:
            print("pymetallb migrate: error: --in-cluster is not installed (package reconciler)", file=sys.stderr)
            return EXIT_USAGE
        args.handler = found[0].load()
    elif args.command == "migrate":
        if any((args.kubeconfig, args.allow_moves, args.apply, args.delete_configmap, args.lb_class)):
            print(
                "pymetallb migrate: error: --kubeconfig, --allow-moves, --apply, --lb-class need --in-cluster",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if args.input and args.input_flag:
            print("pymetallb migrate: error: give the input once, as an argument or with -f", file=sys.stderr)
            return EXIT_USAGE
        args.input = args.input or args.input_flag
        if not args.input:
            print("pymetallb migrate: error: no input (a file, or - for stdin)", file=sys.stderr)
            return EXIT_USAGE
    handler: Handler = args.handler
    if getattr(args, "short_lived", False):
        # A command that reads its input, answers and exits: reference counting frees nearly everything, while
        # the cyclic collector would rescan every loaded object again and again (a fifth of `plan`'s time over
        # 10,000 Services). The programs (controller, speaker, webhook) keep it.
        gc.disable()
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
