"""The `kspec` command line: validate, build, summary, schema, explain, plugins.

User mistakes print as `file:line:col: error: ...` and exit 1; no Python traceback reaches
the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from kspec.errors import SpecError, printable
from kspec.runtime.arguments import memory_size, positive_int, seed
from kspec.runtime.compile_cache import enable_compile_cache
from kspec.runtime.memory_budget import memory_limit
from kspec.spec.includes import outside_includes_allowed

EXIT_OK, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Deprecation warnings as compiler-style lines: `file:line:col: warning: ...`."""
    for w in caught:
        text = printable(str(w.message))
        where, sep, rest = text.partition(": ")
        line = f"{where}: warning: {rest}" if sep and where.count(":") >= 2 else f"warning: {text}"
        print(line, file=sys.stderr)


def _run_checked(fn: Callable[[], None]) -> int:
    """Run `fn`, turning `SpecError`s into located error lines (one per line, never wrapped,
    so editors can jump to them) and the exit code."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
        except SpecError as exc:
            _print_warnings(caught)
            for diagnostic in exc.diagnostics:
                print(diagnostic, file=sys.stderr)
            return EXIT_ERROR
        except OSError as exc:  # an output path that cannot be written: a missing directory
            _print_warnings(caught)
            where = f"{exc.filename}: " if exc.filename else ""
            print(printable(f"error: {where}{exc.strerror or exc}"), file=sys.stderr)
            return EXIT_ERROR
    _print_warnings(caught)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kspec.runtime.checking import check

    status = EXIT_OK
    for file in args.files:

        def one(file: str = file) -> None:
            compiled = check(Path(file))
            shapes = ", ".join(str(s) for s in compiled.output_shapes)
            out.print(
                f"{file}: ok ({len(compiled.graph.nodes)} nodes; outputs {shapes})", highlight=False
            )

        status = max(status, _run_checked(one))
    return status


def cmd_build(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kspec.runtime.build import build

    def run() -> None:
        written = build(
            Path(args.file), Path(args.output), seed=args.seed, batch_size=args.batch_size
        )
        out.print(written.summary_text, highlight=False)
        out.print(f"spec:       {written.spec}", highlight=False)
        out.print(f"checkpoint: {written.checkpoint}", highlight=False)
        out.print(f"summary:    {written.summary}", highlight=False)
        out.print(
            f"compiled apply for batch {args.batch_size} in {written.compile_seconds:.2f}s",
            highlight=False,
        )

    return _run_checked(run)


def cmd_summary(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kspec.runtime.model_dir import load_model

    def run() -> None:
        model = load_model(args.file, args.weights, seed=args.seed, optimizer=False)
        model.summary(
            print_fn=lambda line: out.print(line, highlight=False, markup=False),
            flops=args.flops,
            expand_nested=args.expand_nested,
        )

    return _run_checked(run)


def cmd_schema(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kspec.schemas.canonical import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return EXIT_OK

    def write() -> None:
        Path(args.output).write_text(text)
        out.print(f"wrote {args.output}", highlight=False)

    return _run_checked(write)


def cmd_explain(args: argparse.Namespace, out: Console, err: Console) -> int:
    import difflib

    from rich.table import Table

    from kspec.schemas.custom import CUSTOM_LAYERS, ORIGINS, plugins_note
    from kspec.schemas.registry import (
        FAMILY_OF,
        TYPE_ALIASES,
        TYPE_SYNONYMS,
        known_type_names,
        layer_class,
    )

    name = TYPE_ALIASES.get(args.layer, TYPE_SYNONYMS.get(args.layer, args.layer))
    cls = layer_class(name)
    if cls is None:
        close = difflib.get_close_matches(args.layer, known_type_names(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        err.print(
            printable(f"error: unknown layer type '{args.layer}'{hint}"),
            highlight=False,
            markup=False,
        )
        known = sorted([*FAMILY_OF, *CUSTOM_LAYERS])
        err.print(f"known types: {', '.join(known)}; {plugins_note()}", highlight=False)
        return EXIT_ERROR
    if name in CUSTOM_LAYERS:
        out.print(f"custom layer type from {ORIGINS[name]}", highlight=False)
    out.print(f"[bold]{name}[/bold]: {(cls.__doc__ or '').strip()}")
    table = Table("parameter", "type", "default", "description")
    for field_name, field in cls.model_fields.items():
        if field_name == "type":
            continue
        default = (
            "required"
            if field.is_required()
            else repr(
                field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            )
        )
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
        table.add_row(
            field_name, annotation.replace("typing.", ""), default, field.description or ""
        )
    out.print(table)
    if cls.call_arguments:
        required = cls.call_arguments[: cls.required_call_arguments]
        optional = cls.call_arguments[cls.required_call_arguments :]
        out.print(
            f"inputs (call arguments, a list in this order or a mapping by name): "
            f"{', '.join(required) or 'none'} required"
            + (f"; {', '.join(optional)} optional" if optional else ""),
            highlight=False,
            markup=False,
        )
    if cls.keras1_aliases:
        aliases = ", ".join(
            f"{old} -> {new if isinstance(new, str) else new[0]}"
            for old, new in cls.keras1_aliases.items()
        )
        out.print(f"Keras 1 names (accepted, deprecated): {aliases}", highlight=False)
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kspec.schemas.custom import installed_plugins

    plugins = installed_plugins()
    if not plugins:
        out.print("no layer plugins installed", highlight=False)
    for plugin in plugins:
        out.print(f"{plugin.describe()}: entry point {plugin.entry_point.value}", highlight=False)
    return EXIT_ERROR if any(p.error for p in plugins) else EXIT_OK


def _load_plugins() -> None:
    """Load the installed layer plugins before any command, so their types are known to all
    of them (`schema`, `explain` included); JAX is imported only when there are any."""
    from kspec.schemas.custom import installed_plugins

    if not installed_plugins():
        return
    from kspec.runtime.plugins import load_plugins

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_plugins()
    _print_warnings(caught)


def cmd_plot(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kspec.runtime.plot import run_plot

    return run_plot(args, out, err, _run_checked)


def cmd_diff(args: argparse.Namespace, out: Console, err: Console) -> int:
    from kspec.runtime.diff import run_diff

    return run_diff(args, out, err, _run_checked)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kspec", description="Declarative model specs compiled to pure JAX functions."
    )
    p.add_argument(
        "--allow-outside-includes",
        action="store_true",
        help="let specs `include:` files outside the including file's directory",
    )
    p.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not keep compiled programs on disk between runs (default: kept in "
        "$KSPEC_CACHE_DIR/jax or ~/.cache/kspec/jax; also KSPEC_NO_COMPILE_CACHE=1)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    v = sub.add_parser("validate", help="check schemas, graph and shapes (no weights allocated)")
    v.add_argument("files", nargs="+", metavar="FILE", help="spec files (.yaml, .yml, .json)")
    # validate loads plugins itself, only for a type nothing built in provides (checking.py)
    v.set_defaults(run=cmd_validate, plugins_on_demand=True)
    b = sub.add_parser("build", help="validate, init, jit-compile; write a model directory")
    b.add_argument("file", metavar="FILE")
    b.add_argument("-o", "--output", required=True, metavar="DIR", help="model directory to write")
    b.add_argument("--seed", type=seed, default=0, help="init seed (default 0)")
    b.add_argument(
        "--batch-size", type=positive_int, default=1, help="batch size to compile for (default 1)"
    )
    b.set_defaults(run=cmd_build)
    s = sub.add_parser("summary", help="print the layer table and parameter counts")
    s.add_argument("file", metavar="MODEL", help="spec file or model directory")
    s.add_argument("--weights", metavar="DIR", help="with a spec file: a checkpoint to load")
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument(
        "--flops", action="store_true", help="add FLOPs per layer (XLA cost analysis, batch 1)"
    )
    s.add_argument(
        "--expand-nested", action="store_true", help="list each sub-model's layers under it"
    )
    s.set_defaults(run=cmd_summary)
    j = sub.add_parser("schema", help="write the JSON Schema of the spec format")
    j.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    j.set_defaults(run=cmd_schema)
    e = sub.add_parser("explain", help="parameters, defaults and descriptions of a layer type")
    e.add_argument("layer", metavar="LAYER", help="layer type, e.g. Dense")
    e.set_defaults(run=cmd_explain)
    sub.add_parser(
        "plugins", help="list the installed layer plugins and the layer types they add"
    ).set_defaults(run=cmd_plugins)
    pl = sub.add_parser("plot", help="draw the graph with shapes (Graphviz: .svg, .png or .dot)")
    pl.add_argument("file", metavar="MODEL", help="spec file or model directory")
    pl.add_argument("-o", "--output", required=True, metavar="OUT", help="model.svg|png|dot")
    pl.set_defaults(run=cmd_plot)
    d = sub.add_parser("diff", help="semantic diff of two specs (exit 0 same, 1 different)")
    d.add_argument("old", metavar="A")
    d.add_argument("new", metavar="B")
    d.set_defaults(run=cmd_diff)
    from kspec.runtime.export_cli import add_command
    from kspec.runtime.keras_io.commands import add_commands as add_keras_commands
    from kspec.runtime.training.commands import add_commands

    add_commands(sub, _run_checked)
    add_command(sub, _run_checked)
    add_keras_commands(sub, _run_checked)
    for command in ("build", "summary", "fit"):
        sub.choices[command].add_argument(
            "--max-memory",
            type=memory_size,
            metavar="SIZE",
            help="refuse a model needing more memory than SIZE (8G, 512M; default: what the "
            "device has free)",
        )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    enable_compile_cache(not args.no_compile_cache)
    # soft_wrap: a long path or message stays on one line, so tools can parse it
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if not getattr(args, "plugins_on_demand", False):
            _load_plugins()
        with (
            outside_includes_allowed(args.allow_outside_includes),
            memory_limit(getattr(args, "max_memory", None)),
        ):
            return int(args.run(args, out, err))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: never show a traceback to a user
        err.print(
            printable(f"internal error: {type(exc).__name__}: {exc} (please report this)"),
            markup=False,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
