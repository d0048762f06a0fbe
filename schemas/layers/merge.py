"""Merge layers (schemas): filled in by their family's issue."""

from __future__ import annotations

from kspec.schemas.base import LayerSpec

LAYERS: list[type[LayerSpec]] = []
TYPE_ALIASES: dict[str, str] = {}
