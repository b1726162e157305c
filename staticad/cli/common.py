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


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def non_negative_int(text):
    """argparse type: an integer >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def human_bytes(n: int) -> str:
    """``2048`` -> ``"2.0 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
