"""The gosvc command line: new, check, smoke, demo, update, bench.

Exit codes: 0 success; 1 a failure that is not the user's input (a check of a generated
project failed, the template failed to render, a tool is missing); 2 bad input (one line
on stderr, nothing written); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from gosvc import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_OK
from gosvc.answers import parse_data_items
from gosvc.bench import report, wrk
from gosvc.bench import run as bench_run
from gosvc.checks import check_new_project, describe, missing_tools, run_checks, steps
from gosvc.demo import run_demo
from gosvc.errors import GosvcError, InputError, ToolMissingError
from gosvc.matrix import load_matrix, select
from gosvc.render import render_project
from gosvc.smoke import smoke
from gosvc.template import TemplateSource, default_matrix_file, is_git_checkout, resolve
from gosvc.update import register as _register_update

# argparse's subparsers type is generic only to type checkers.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.run
    try:
        return command(args)
    except GosvcError as error:
        print(f"gosvc {args.command}: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"gosvc {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gosvc",
        description="Generate, check and smoke-test Go services from the copier-go-service "
        "template.",
        epilog="Exit codes: 0 ok, 1 a check of the generated project or the render failed "
        "(or a tool is missing), 2 bad input.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(subparsers)
    return parser


# ------------------------------------------------------------------ new


def _register_new(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "new",
        help="generate a service, then check it",
        description="Generate a Go service with Copier, then run the project checks: "
        + describe(steps()),
    )
    parser.add_argument("dest", type=Path, metavar="DEST", help="folder to create")
    parser.add_argument(
        "-d",
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="answer a question (repeatable), e.g. -d service_name=orders",
    )
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="use the default for every question not answered with -d (no prompts)",
    )
    _add_template_options(parser)
    parser.set_defaults(run=_new)


def _new(args: argparse.Namespace) -> int:
    source = resolve(args.template, args.vcs_ref)
    data = parse_data_items(args.data)
    if not args.defaults and not sys.stdin.isatty():
        raise InputError(
            "stdin is not a terminal, so the questions cannot be asked: pass --defaults "
            "(and -d key=value for the answers you want)"
        )
    dest: Path = args.dest
    if args.template is None and not is_git_checkout(Path(source.src)):
        print(
            f"note: the template bundled with gosvc ({source.src}) is not a git checkout, so "
            "the project records no template version and cannot be updated; for an "
            "updatable service pass --template with the template's git URL or checkout"
        )
    if not args.defaults:
        # The questions come next; with --defaults the answers are validated before
        # anything is printed, so a refusal is the one line on stderr.
        print(f"Generating {dest} from {source.src}")
    rendered = render_project(source, dest, data, defaults=args.defaults, notes=sys.stdout)
    version = f" (template {rendered.template_commit})" if rendered.template_commit else ""
    print(f"Rendered {dest} from {source.src}{version} in {rendered.seconds:.1f}s")
    code = check_new_project(dest)
    if code == EXIT_OK:
        print(rendered.next_steps)
    return code


# ---------------------------------------------------------------- check


def _register_check(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the project checks on a generated service",
        description="Run the project checks in PATH: " + describe(steps()),
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="a generated project")
    parser.add_argument("--race", action="store_true", help="go test with the race detector")
    parser.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not (path / "go.mod").is_file():
        raise InputError(f"{path} is not a Go module (no go.mod); pass a generated project")
    _require_go()
    print(f"Checking {path}:")
    report = run_checks(path, race=args.race)
    if report.ok:
        print(f"All checks passed in {report.seconds:.1f}s.")
        return EXIT_OK
    print(f"gosvc check: {path} failed a check (output above)", file=sys.stderr)
    return EXIT_CHECK_FAILED


# ---------------------------------------------------------------- smoke


def _register_smoke(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "smoke",
        help="render and check every answer set of a matrix file",
        description="Render each answer set of the matrix into a temporary folder, run the "
        "project checks on it and print one row per set; exit 1 if any set fails.",
    )
    parser.add_argument(
        "--matrix",
        type=Path,
        metavar="FILE",
        help="answer-set matrix (default: the template's tests/matrix.yml)",
    )
    parser.add_argument(
        "-k", dest="name_filter", metavar="FILTER", help="only sets whose name contains FILTER"
    )
    parser.add_argument("--keep", action="store_true", help="keep the rendered projects")
    parser.add_argument("--race", action="store_true", help="go test with the race detector")
    _add_template_options(parser)
    parser.set_defaults(run=_smoke)


def _smoke(args: argparse.Namespace) -> int:
    source = resolve(args.template, args.vcs_ref)
    matrix_file: Path = args.matrix or default_matrix_file()
    sets = select(load_matrix(matrix_file), args.name_filter)
    _require_go()
    rows = smoke(source, sets, keep=args.keep, race=args.race, out=sys.stdout)
    return EXIT_OK if all(row.ok for row in rows) else EXIT_CHECK_FAILED


# ----------------------------------------------------------------- demo


def _register_demo(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate a service with defaults, build it, run it and call its endpoints",
    )
    parser.add_argument(
        "workdir",
        type=Path,
        nargs="?",
        default=Path("build/demo"),
        metavar="DIR",
        help="where to put the demo service (default: build/demo)",
    )
    _add_template_options(parser)
    parser.set_defaults(run=_demo)


def _demo(args: argparse.Namespace) -> int:
    source: TemplateSource = resolve(args.template, args.vcs_ref)
    _require_go()
    return run_demo(source, args.workdir, sys.stdout)


# ---------------------------------------------------------------- bench


def _register_bench(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure a generated service beside a bare net/http server (figures, no verdict)",
        description="Build the service in PATH (into a scratch folder: the project is left "
        "as it is) and a bare net/http server answering the same bytes on the same route, "
        "drive each with wrk over loopback in alternating rounds, and print requests/s, "
        "p50/p99 latency and their ratios to the baseline (the example's GET of one record, "
        "with the default settings and with telemetry and the access log off, and /livez), "
        "p99 at half the baseline's maximum load, idle RSS, exec to /startupz 200, binary "
        "size and the time of copier copy without and with its tasks.",
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="a generated project")
    parser.add_argument(
        "--duration", type=int, default=10, metavar="SECONDS", help="each wrk run (default 10)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, metavar="N", help="runs per server (default 3)"
    )
    parser.add_argument("--threads", type=int, default=2, metavar="N", help="wrk threads (2)")
    parser.add_argument(
        "--connections", type=int, default=64, metavar="N", help="wrk connections (64)"
    )
    parser.add_argument(
        "--startup-samples",
        type=int,
        default=20,
        metavar="N",
        help="starts timed for exec to /startupz 200; the median is reported (default 20)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        choices=["go-zero"],
        help="add a row for another framework serving the same bytes: go-zero (its rest "
        "server, default chain; built from the Go module proxy once, then cached)",
    )
    parser.add_argument(
        "--no-jaeger",
        dest="jaeger",
        action="store_false",
        help="leave out the row with the spans exported to a local Jaeger (which is built "
        "once from its Go module, then cached)",
    )
    parser.add_argument(
        "--no-copy-times",
        dest="copy_times",
        action="store_false",
        help="leave out the copier copy timings",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help="also draw a PNG bar chart of the ratios and latencies (needs the [plot] extra)",
    )
    _add_template_options(parser)
    parser.set_defaults(run=_bench)


def _bench(args: argparse.Namespace) -> int:
    for name in ("duration", "rounds", "threads", "connections", "startup_samples"):
        if getattr(args, name) <= 0:
            raise InputError(f"--{name.replace('_', '-')} must be more than 0")
    _require_go()
    options = bench_run.Options(
        path=args.path,
        source=resolve(args.template, args.vcs_ref),
        load=wrk.Load(args.threads, args.connections, args.duration),
        rounds=args.rounds,
        startup_samples=args.startup_samples,
        compare=tuple(args.compare),
        jaeger=args.jaeger,
        copy_times=args.copy_times,
        out=sys.stdout,
    )
    if args.plot is not None:
        report.require_matplotlib()
    bench_run.clean_environment()
    with tempfile.TemporaryDirectory(prefix="gosvc-bench-") as scratch:
        figures = bench_run.bench(options, Path(scratch))
    print("\n" + report.table(figures))
    if args.json is not None:
        report.write_json(figures, args.json)
        print(f"\nwrote the figures to {args.json}")
    if args.plot is not None:
        report.write_plot(figures, args.plot)
        print(f"wrote the chart to {args.plot}")
    return EXIT_OK


# --------------------------------------------------------------- shared


def _require_go() -> None:
    missing = missing_tools()
    if missing:
        raise ToolMissingError(
            f"{' and '.join(missing)} not found on PATH; install Go 1.25 or later"
        )


def _add_template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template",
        metavar="SRC",
        help="template path or git URL (default: the checkout gosvc is installed from)",
    )
    parser.add_argument(
        "--vcs-ref",
        metavar="REF",
        help="git ref of the template (default: HEAD of the bundled template, "
        "else the latest release tag)",
    )


# Each registers one subcommand; a new command adds its register function here.
REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (
    _register_new,
    _register_check,
    _register_smoke,
    _register_demo,
    _register_update,
    _register_bench,
)
