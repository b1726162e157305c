"""The ``staticad`` command line (also ``python -m staticad``).

    staticad bench [WORKLOAD ...] [--backend numpy|numba|cuda|all] [--repeat N] [--size S]
                   [--full] [--memory] [--compare torch,jax] [--json PATH]
    staticad compile MODULE:FUNCTION [--backend numpy|numba|cuda] [--emit-source PATH] [--dot PATH] [--json]
    staticad info [--json] [--probe-threads]
    staticad cache [info|clear]
    staticad fuzz [-n N] [--seed S] [--batch B] [--out DIR]

One module per subcommand (``bench``, ``compile``, ``info``, ``cache``, ``fuzz``), each with
``add_parser(subparsers)`` and ``run(args) -> int``.

``main(argv=None) -> int`` returns the exit status instead of exiting, so it can be called
in-process: 0 on success, 1 when a benchmark column failed or a staticad result differs from
the hand-written NumPy one, or when ``compile`` cannot load, build or compile the function
(one line on stderr, no traceback), 2 for a usage error (unknown workload, backend, option).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import bench, cache, compile, fuzz, info

COMMANDS = {"bench": bench, "compile": compile, "info": info, "cache": cache, "fuzz": fuzz}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``staticad bench: error: ...``) and no exit from main()."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``staticad`` parser with every subcommand."""
    from ..version import __version__

    parser = _Parser(prog="staticad", description="staticad: define-then-run automatic differentiation.")
    parser.add_argument("--version", action="version", version=f"staticad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        parser.print_help(sys.stdout)
        return 2
    try:
        return COMMANDS[args.command].run(args)
    except BrokenPipeError:  # e.g. `staticad bench | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
