"""Conformance case tables, one module per layer family (`core.py`, ...).

Each module defines `CASES: dict[str, list[Case]]` and `INVALID: dict[str, list[Invalid]]`;
`tests/test_conformance.py` collects every module here, so a new family adds one file.
"""
