"""Lowerings of the convolution layers."""

from __future__ import annotations

from typing import Any

from kspec.compiler.lowering import Lowering

LOWERINGS: list[Lowering[Any]] = []
