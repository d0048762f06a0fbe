"""Progress output of `fit`: a rich bar per epoch (verbose=1), one line per epoch (2), none (0)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as RichProgress


def format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class Progress:
    def __init__(
        self, verbose: int, epochs: int, steps: int | None, console: Console | None = None
    ):
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.console = console or Console(highlight=False, soft_wrap=True)
        self._bar: RichProgress | None = None
        self._task: Any = None
        self._start = 0.0

    @property
    def wants_batches(self) -> bool:
        return self.verbose == 1

    def epoch_begin(self, epoch: int) -> None:
        self._start = time.perf_counter()
        if self.verbose == 1:
            self._bar = RichProgress(
                TextColumn(f"Epoch {epoch + 1}/{self.epochs}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[logs]}"),
                console=self.console,
                transient=False,
            )
            self._task = self._bar.add_task("train", total=self.steps, logs="")
            self._bar.start()

    def batch_end(self, index: int, logs: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=index + 1, logs=format_logs(logs))

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        seconds = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.update(self._task, logs=f"{seconds:.1f}s - {format_logs(logs)}")
            self._bar.stop()
            self._bar = None
        elif self.verbose == 2:
            self.line(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.1f}s", logs)

    def line(self, head: str, logs: dict[str, float]) -> None:
        self.console.print(f"{head} - {format_logs(logs)}", markup=False)


def verbosity(verbose: Any) -> int:
    """Keras' `verbose` values (0, 1, 2, "auto" = 1) as an int; anything else is an error."""
    if verbose not in (0, 1, 2, "auto") or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return 1 if verbose == "auto" else int(verbose)


class StepsProgress:
    """Progress of `predict` over its batches, as Keras prints it: a bar (verbose=1), one
    line at the end (2: `8/8 - 0.3s - 40ms/step`), nothing (0). `"auto"` means 1."""

    def __init__(self, verbose: int | str, steps: int, console: Console | None = None) -> None:
        self.verbose, self.steps = verbosity(verbose), steps
        self._console = console
        self._start = time.perf_counter()
        self._bar: RichProgress | None = None
        if self.verbose == 1:
            self._bar = RichProgress(BarColumn(), MofNCompleteColumn(), console=self.console)
            self._task = self._bar.add_task("predict", total=steps)
            self._bar.start()

    @property
    def console(self) -> Console:
        """Made when something is printed: a silent `predict` (the default) builds none."""
        if self._console is None:
            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    def step(self, index: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=index + 1)

    def close(self) -> None:
        seconds = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.stop()
        elif self.verbose == 2:
            per_step = 1000 * seconds / max(self.steps, 1)
            line = f"{self.steps}/{self.steps} - {seconds:.1f}s - {per_step:.0f}ms/step"
            self.console.print(line, markup=False)
