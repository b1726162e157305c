"""Helpers every ``staticad`` subcommand shares: argument types, one-line errors, sizes."""
from __future__ import annotations

import argparse
import sys


def usage_error(command: str, message: str) -> int:
    """Print ``staticad COMMAND: error: MESSAGE`` on stderr; returns the usage exit status 2."""
    print(f"staticad {command}: error: {message}", file=sys.stderr)
    return 2


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (a multi-line message would break the one-line rule)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, else the error "expected {what}"."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return v
    return parse


positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def human_bytes(n: int) -> str:
    """``2048`` -> ``"2.0 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
