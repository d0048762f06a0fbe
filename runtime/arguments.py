"""Command-line values checked where they are parsed, so a bad one is a usage error naming
the flag rather than a failure deep inside JAX."""

from __future__ import annotations

import argparse
import re

from kspec.schemas.integers import INT64_MAX, INT64_MIN

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


def seed(text: str) -> int:
    """An init seed: an integer that fits in 64 bits."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer. Received: {text!r}") from None
    if not INT64_MIN <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(
            f"seed {text} does not fit in 64 bits (the range is -2**63 to 2**63 - 1)"
        )
    return value


def memory_size(text: str) -> int:
    """A size in bytes: `2G`, `512MiB`, `1.5GB` (units of 1024), or a plain byte count."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"expected a size such as 8G, 512M or 1000000. Received: {text!r}"
        )
    size = int(float(match[1]) * _UNITS[match[2].lower()])
    if size <= 0:
        raise argparse.ArgumentTypeError(f"the memory budget must be positive. Received: {text}")
    return size


def positive_int(text: str) -> int:
    """A count that must be at least 1 (`--epochs`, `--batch-size`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer. Received: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1. Received: {value}")
    return value
