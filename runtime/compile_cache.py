"""The CLI's persistent compilation cache: XLA programs kept on disk between `kspec` runs.

Each CLI call is a fresh process, so without it every `kspec predict` recompiles the same
programs. Enabled through JAX's own environment variables before JAX is imported (so
`kspec validate`, which never imports JAX, pays nothing), in a per-user directory:
`$KSPEC_CACHE_DIR/jax`, else `$XDG_CACHE_HOME/kspec/jax`, else `~/.cache/kspec/jax`.
`--no-compile-cache` or `KSPEC_NO_COMPILE_CACHE=1` turns it off; a `JAX_COMPILATION_CACHE_DIR`
the user set wins. See docs/cli-tools.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OPT_OUT = "KSPEC_NO_COMPILE_CACHE"


def cache_directory() -> Path:
    """Where the CLI keeps compiled programs (created by JAX on first write)."""
    if os.environ.get("KSPEC_CACHE_DIR"):
        return Path(os.environ["KSPEC_CACHE_DIR"]) / "jax"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kspec" / "jax"


def enable_compile_cache(enabled: bool = True) -> Path | None:
    """Point JAX at the cache directory (every program cached, however fast it compiled);
    returns it, or None when the cache is off. Does nothing once JAX is imported (it read
    its configuration then), e.g. when a program calls the CLI's `main` in-process."""
    if not enabled or os.environ.get(OPT_OUT, "").strip() not in ("", "0"):
        return None
    if "jax" in sys.modules:
        return None
    directory = Path(os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_directory())))
    # JAX caches only programs that took >= 1 s to compile by default; a CLI call's programs
    # are mostly small, and recompiling them all is what makes a call slow.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return directory
