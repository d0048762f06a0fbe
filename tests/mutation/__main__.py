"""`make mutate`: sample mutants, run each against the quick tests that execute its line, print
the kill rate and every survivor, and write out/mutate/mutate.json."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.mutation.mutants import (
    Mutant,
    Selection,
    all_mutants,
    applied,
    diff,
    mutated_source,
    sample,
)
from tests.mutation.runner import CoverageMap, run_pytest, run_tests, trace_subset

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "mutate"
# The code a coverage map depends on: a cached map is reused only while all of it is unchanged
# (the driver's own code aside).
TRACED = ("compiler", "schemas", "spec", "runtime", "kspec", "tests", "pyproject.toml")
UNTRACED = (":(exclude)tests/mutation",)


@dataclass(frozen=True)
class Config:
    selection: Selection
    sample: int
    seed: int
    marker: str  # the runner: the tests `pytest -m marker` selects (the quick subset)
    readers: dict[str, list[str]]
    equivalent: dict[str, str]  # key -> why no test can tell the mutant from the original


def load_config(root: Path) -> Config:
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]
    ours = tool["kspec"]["mutate"]
    return Config(
        selection=Selection(
            tuple(tool["mutmut"]["source_paths"]),
            tuple(ours.get("alias_map_paths", ())),
            ours.get("alias_map_names", "$^"),
        ),
        sample=int(os.environ.get("MUTATE_SAMPLE", ours["sample"])),
        seed=int(os.environ.get("MUTATE_SEED", ours["seed"])),
        marker=os.environ.get("MUTATE_MARKER", ours.get("marker", "quick")),
        readers=ours.get("readers", {}),
        equivalent={e["key"]: e["reason"] for e in ours.get("equivalent", [])},
    )


def _fingerprint(root: Path, marker: str) -> str:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "--", *TRACED, *UNTRACED],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    digest = hashlib.sha256(marker.encode())
    for name in sorted(listed):
        if (root / name).is_file():
            digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()[:16]


def coverage_map(root: Path, config: Config, workers: int) -> CoverageMap:
    """The runner subset's per-test line coverage, cached in out/mutate by source fingerprint."""
    cached = OUT / f"coverage-{_fingerprint(root, config.marker)}.json"
    if cached.exists():
        return CoverageMap.from_json(json.loads(cached.read_text()))
    anchors = {a.split(":", 1)[0] for paths in config.readers.values() for a in paths}
    files = sorted(set(config.selection.files(root)) | anchors)
    print(f"coverage pass: `-m {config.marker}` under per-test line tracing ({workers} workers)")
    start = time.monotonic()
    traced = trace_subset(root, config.marker, files, workers, OUT / "trace", timeout=3600)
    print(f"  {len(traced.seconds)} passing tests traced in {time.monotonic() - start:.0f} s")
    OUT.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(traced.to_json()))
    return traced


def _reader_tests(root: Path, anchors: list[str], traced: CoverageMap) -> set[str]:
    """The tests that run any line of `path` containing `text`, for each `path:text`."""
    tests: set[str] = set()
    for anchor in anchors:
        path, text = anchor.split(":", 1)
        lines = (root / path).read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if text in line:
                tests |= traced.tests_on(path, range(number, number + 1))
    return tests


def select_tests(root: Path, mutant: Mutant, traced: CoverageMap, config: Config) -> set[str]:
    """The quick tests that can see this mutant; empty when none runs its line."""
    if mutant.header:  # a default argument: read by the function's calls
        assert mutant.scope is not None
        return traced.tests_on(mutant.path, range(mutant.scope[0] + 1, mutant.scope[1] + 1))
    at_import = mutant.scope is None or traced.runs_only_at_import(mutant.path, mutant.statement)
    if at_import:  # module or class level, or run only at import: the file's tests, readers'
        tests = traced.tests_in_file(mutant.path)
        for prefix, anchors in config.readers.items():
            if mutant.path.startswith(prefix):
                tests |= _reader_tests(root, anchors, traced)
        return tests
    return traced.tests_on(mutant.path, range(mutant.statement, mutant.statement + 1))


def ordered(tests: set[str], traced: CoverageMap) -> list[str]:
    """Cheapest files first, each file's tests in collection order (so module fixtures are
    built once): under `-x` a killed mutant stops at its first failing test."""
    by_file: dict[str, list[str]] = {}
    for test in sorted(tests):
        by_file.setdefault(test.split("::", 1)[0], []).append(test)
    cost = {f: sum(traced.seconds.get(t, 0.0) for t in ts) for f, ts in by_file.items()}
    return [t for f in sorted(by_file, key=lambda f: (cost[f], f)) for t in by_file[f]]


def timeout_for(tests: list[str], traced: CoverageMap) -> float:
    """Three times the tests' unmutated seconds plus process start-up: a mutant past it hangs."""
    return 60.0 + 3.0 * sum(traced.seconds.get(t, 0.0) for t in tests)


def run_mutant(
    root: Path, mutant: Mutant, traced: CoverageMap, config: Config, workers: int, verbose: bool
) -> dict[str, Any]:
    tests = ordered(select_tests(root, mutant, traced, config), traced)
    file = root / mutant.path
    original = file.read_text()
    source = mutated_source(root, mutant, config.selection)
    record: dict[str, Any] = asdict(mutant) | {
        "key": mutant.key,
        "tests": len(tests),
        "diff": diff(original, source, mutant.path),
    }
    if not tests:
        return record | {"status": "not covered", "seconds": 0.0}
    with applied(file, source):
        result = run_tests(tests, root, timeout_for(tests, traced), workers)
    if verbose:
        print(record["diff"])
        print(result.output[-4000:])
    status = {"failed": "killed", "passed": "survived"}.get(result.status, result.status)
    return record | {"status": status, "seconds": round(result.seconds, 1)}


def summarise(records: list[dict[str, Any]], config: Config, seconds: float) -> dict[str, Any]:
    counts = Counter(r["status"] for r in records)
    killed = counts["killed"] + counts["timeout"]
    survivors = [r for r in records if r["status"] in ("survived", "not covered")]
    equivalent = [r for r in survivors if r["key"] in config.equivalent]
    judged = len(records) - len(equivalent)
    return {
        "sample": len(records),
        "seed": config.seed,
        "counts": dict(counts),
        "kill_rate": killed / len(records) if records else 0.0,
        "kill_rate_without_equivalent": killed / judged if judged else 0.0,
        "equivalent": len(equivalent),
        "seconds": round(seconds),
    }


def report(records: list[dict[str, Any]], summary: dict[str, Any], config: Config) -> None:
    for r in records:
        if r["status"] in ("survived", "not covered"):
            why = config.equivalent.get(r["key"])
            label = f"equivalent: {why}" if why else r["status"]
            print(f"\n{r['path']}:{r['line']}  {r['description']}  [{label}; {r['tests']} tests]")
            print(f"  key: {r['key']}")
            print("  " + r["diff"].rstrip().replace("\n", "\n  "))
    counts = summary["counts"]
    print(
        f"\n{summary['sample']} mutants (seed {summary['seed']}): "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("killed", "timeout", "survived"))
        + f", {counts.get('not covered', 0)} not covered"
        + (f", {counts['error']} error" if counts.get("error") else "")
    )
    print(
        f"kill rate {summary['kill_rate']:.1%}; "
        f"{summary['kill_rate_without_equivalent']:.1%} without the {summary['equivalent']} "
        f"judged equivalent; {summary['seconds']} s"
    )


def _git_clean(root: Path, paths: list[str]) -> bool:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", *paths],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return not status.strip()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__)
    parser.add_argument("--only", metavar="PATH:INDEX", help="run one mutant, show diff and output")
    parser.add_argument("--list", action="store_true", help="list the sampled mutants, run none")
    parser.add_argument("--all", action="store_true", help="every mutant, not a sample")
    parser.add_argument("--first", type=int, help="only the first N mutants of the sample")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="rerun the survivors of out/mutate/mutate.json and update it (after adding tests)",
    )
    parser.add_argument(
        "--check-tests",
        action="store_true",
        help="first run the selected tests on the unmutated code (they must pass)",
    )
    parser.add_argument("--workers", type=int, default=0, help="xdist workers per mutant run")
    parser.add_argument("--trace-workers", type=int, default=2, help="xdist workers, coverage")
    return parser.parse_args()


def _chosen(args: argparse.Namespace, config: Config) -> list[Mutant]:
    mutants = all_mutants(ROOT, config.selection)
    if args.only:
        return [m for m in mutants if m.name == args.only]
    if args.survivors:
        earlier = json.loads((OUT / "mutate.json").read_text())["mutants"]
        keys = {r["key"] for r in earlier if r["status"] in ("survived", "not covered")}
        return [m for m in mutants if m.key in keys]
    chosen = mutants if args.all else sample(mutants, config.sample, config.seed)
    print(f"{len(mutants)} mutants in {len(config.selection.files(ROOT))} files; {len(chosen)} run")
    return chosen[: args.first] if args.first else chosen


def main() -> int:
    args = _arguments()
    os.chdir(ROOT)  # mutmut reads [tool.mutmut] from the working directory's pyproject
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # restore files on kill too
    config = load_config(ROOT)
    chosen = _chosen(args, config)
    if args.list:
        for m in chosen:
            print(f"{m.name}\t{m.path}:{m.line}\t{m.description}")
        return 0
    if not chosen:
        print("no such mutant")
        return 2
    touched = sorted({m.path for m in chosen})
    if not _git_clean(ROOT, touched):
        print(f"refusing to mutate files with uncommitted changes: {', '.join(touched)}")
        return 2
    traced = coverage_map(ROOT, config, args.trace_workers)
    if args.check_tests:
        tests = set().union(*(select_tests(ROOT, m, traced, config) for m in chosen))
        result = run_pytest(ordered(tests, traced), ROOT, timeout=3600)
        print(f"check: {len(tests)} selected tests on the unmutated code: {result.status}")
        if result.status != "passed":
            print(result.output[-5000:])
            return 1
    start = time.monotonic()
    records = []
    try:
        for number, mutant in enumerate(chosen, 1):
            record = run_mutant(ROOT, mutant, traced, config, args.workers, bool(args.only))
            records.append(record)
            print(
                f"[{number}/{len(chosen)}] {record['status']:<11} {record['seconds']:>6.1f} s "
                f"{record['tests']:>4} tests  {mutant.path}:{mutant.line}  {mutant.description}",
                flush=True,
            )
    finally:
        clean = _git_clean(ROOT, touched)
    seconds = time.monotonic() - start
    if args.survivors:  # the sample again: earlier kills stand, survivors get today's verdict
        earlier = json.loads((OUT / "mutate.json").read_text())
        rerun = {r["key"]: r for r in records}
        records = [rerun.get(r["key"], r) for r in earlier["mutants"]]
        seconds += earlier["seconds"]
    summary = summarise(records, config, seconds)
    report(records, summary, config)
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.only:
        (OUT / "mutate.json").write_text(json.dumps({**summary, "mutants": records}, indent=1))
    if not clean:
        print("error: a mutated file was not restored (git status is not clean)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
