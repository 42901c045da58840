"""`mlops-gates profile` and `mlops-gates schema infer`: describe a data file.

Exit status of both: 0 written; 1 the data (or the model, for `profile --config`) could not
be used; 2 usage error (bad option, missing file, unknown column, bad config).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from mlops_gates.cli.common import error as _error

__all__ = ["add_subcommands"]

MAX_BINS = 1000


def add_subcommands(sub: Any) -> None:
    """Register `profile` and `schema` on the top-level subparsers."""
    profile = sub.add_parser(
        "profile",
        help="write a reference profile (histograms and summaries) of a data file",
        description="Profile a Parquet or CSV file for drift gates: per column, a histogram "
        "over edges from the data's quantiles (numeric) or the counts of its most frequent "
        "categories (text), with missing counts and summary statistics. Writes versioned "
        "JSON (a few KB) to stdout or -o PATH. Exit status: 0 written; 1 the data or model "
        "could not be used; 2 usage error.",
    )
    profile.add_argument("data", metavar="DATA", type=Path, help="Parquet or CSV file")
    profile.add_argument(
        "--columns",
        metavar="COL",
        nargs="+",
        help="columns to profile, separated by spaces or commas (default: every numeric "
        "and text column)",
    )
    profile.add_argument(
        "--bins",
        metavar="N",
        type=_bins,
        default=10,
        help="bins per numeric column, 2 to 1000 (default: 10)",
    )
    profile.add_argument(
        "--top-k",
        metavar="K",
        type=_positive,
        default=50,
        help="categories kept per text column; the rest are counted as `other` (default: 50)",
    )
    _format_option(profile)
    profile.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        help="also profile the candidate model's output on DATA (scores, labels or values), "
        "as configured in this mlops-gates.yaml, for `predictions: true` drift gates; when "
        "its backend.engine is duckdb or spark, that engine computes the whole profile "
        "(DATA may then be a folder or glob of Parquet files larger than memory)",
    )
    _output_option(profile, "profile")
    profile.set_defaults(func=_profile)

    schema = sub.add_parser(
        "schema",
        help="data schema tools (schema infer)",
        description="Data schema tools. `mlops-gates schema infer DATA` writes a pandera "
        "YAML schema to start from.",
    )
    schema_sub = schema.add_subparsers(dest="schema_command", metavar="COMMAND")
    schema.set_defaults(func=lambda args: _no_subcommand(schema))
    infer = schema_sub.add_parser(
        "infer",
        help="write a pandera YAML schema inferred from a data file",
        description="Infer a pandera schema from a Parquet or CSV file: dtypes, nullable "
        "where values are missing, numeric ranges (observed min and max, or widened with "
        "--slack) and the value set of text columns with at most --max-categories values. "
        "The YAML reads back with pandera's DataFrameSchema.from_yaml and passes on DATA. "
        "Exit status: 0 written; 1 the data could not be used; 2 usage error.",
    )
    infer.add_argument("data", metavar="DATA", type=Path, help="Parquet or CSV file")
    infer.add_argument(
        "--max-categories",
        metavar="N",
        type=_non_negative,
        default=50,
        help="text columns with at most N distinct values get an `isin` check (default: 50)",
    )
    infer.add_argument(
        "--slack",
        metavar="FRACTION",
        type=_slack,
        default=0.0,
        help="widen each numeric range by FRACTION of its width on both sides (default: 0, "
        "the observed range)",
    )
    _format_option(infer)
    _output_option(infer, "schema")
    infer.set_defaults(func=_schema_infer)


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=["parquet", "csv"],
        default=None,
        help="file format of DATA (default: from its suffix)",
    )


def _output_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        type=Path,
        default=None,
        help=f"write the {what} to PATH (default: stdout)",
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _bins(text: str) -> int:
    value = _int(text)
    if not 2 <= value <= MAX_BINS:
        raise argparse.ArgumentTypeError(f"must be from 2 to {MAX_BINS}, got {value}")
    return value


def _positive(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _slack(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1e6:
        raise argparse.ArgumentTypeError(f"must be 0 or more (e.g. 0.05), got {text}")
    return value


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _read(args: argparse.Namespace) -> Any:
    """The data file as a frame; None after printing the error (the exit code is set)."""
    from mlops_gates.errors import DataError
    from mlops_gates.sources.data import infer_format, read_table

    path: Path = args.data
    try:
        if not path.is_file():
            raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
        fmt = args.format or infer_format(path)
    except DataError as exc:
        _error(_for_cli(str(exc)))
        args.exit = EXIT_USAGE
        return None
    try:
        return read_table(path, fmt)
    except DataError as exc:
        _error(_for_cli(str(exc)))
        args.exit = EXIT_FAIL
        return None


def _for_cli(message: str) -> str:
    # read_table speaks of the config's `data.format`; here the same choice is --format.
    return message.replace(
        "set `data.format: parquet` / `csv` in the config", "pass --format parquet / csv"
    ).replace("`data.format`", "--format")


def _profile(args: argparse.Namespace) -> int:
    from mlops_gates.errors import ConfigError, MlopsGatesError
    from mlops_gates.sources.profile import build_profile, prediction_profiles, profile_json

    columns = None
    if args.columns:
        columns = [c.strip() for part in args.columns for c in part.split(",") if c.strip()]
    config = None
    if args.config is not None:
        from mlops_gates.config import load_config

        try:
            config = load_config(args.config)
        except ConfigError as exc:
            _error(str(exc))
            return EXIT_USAGE
    if config is not None and config.backend.engine != "memory":
        return _profile_at_scale(args, config, columns)
    frame = _read(args)
    if frame is None:
        return int(args.exit)
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            _error(
                f"{args.data}: no column {', '.join(map(repr, missing))}; the data has: "
                f"{', '.join(map(str, frame.columns[:40]))}"
            )
            return EXIT_USAGE
    try:
        predictions = None
        if config is not None:
            predictions = prediction_profiles(
                config, frame, args.data, bins=args.bins, top_k=args.top_k
            )
        profile = build_profile(
            frame,
            columns=columns,
            bins=args.bins,
            top_k=args.top_k,
            source=args.data,
            predictions=predictions,
        )
    except MlopsGatesError as exc:
        _error(str(exc))
        return EXIT_FAIL
    return _emit(profile_json(profile), args.output, f"{len(profile.features)} columns")


def _profile_at_scale(args: argparse.Namespace, config: Any, columns: list[str] | None) -> int:
    """The profile computed by the config's engine: DATA may be larger than memory, a
    folder of Parquet files or a glob, and only aggregates leave the engine."""
    from dataclasses import replace

    from mlops_gates.backends import open_table
    from mlops_gates.backends.drift_source import output_profiles
    from mlops_gates.backends.files import files_digest
    from mlops_gates.backends.profile_jobs import profile_table
    from mlops_gates.errors import ConfigError, MlopsGatesError
    from mlops_gates.sources.profile import profile_json

    try:
        with open_table(config, args.data, args.format) as table:
            digest = {"digest": files_digest(table.files) if table.files else None}
            profile = profile_table(
                table, columns=columns, bins=args.bins, top_k=args.top_k, source=digest
            )
            outputs = output_profiles(config, table, bins=args.bins, top_k=args.top_k)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except MlopsGatesError as exc:
        _error(str(exc))
        return EXIT_FAIL
    profile = replace(profile, predictions=outputs)
    return _emit(profile_json(profile), args.output, f"{len(profile.features)} columns")


def _schema_infer(args: argparse.Namespace) -> int:
    from mlops_gates.schema_infer import infer_schema, schema_yaml, stored_integer_dtypes
    from mlops_gates.sources.data import infer_format

    frame = _read(args)
    if frame is None:
        return int(args.exit)
    try:
        parquet = (args.format or infer_format(args.data)) == "parquet"
        schema = infer_schema(
            frame,
            name=args.data.stem,
            max_categories=args.max_categories,
            slack=args.slack,
            integer_dtypes=stored_integer_dtypes(args.data) if parquet else None,
        )
        text = schema_yaml(schema, source=args.data, rows=len(frame), slack=args.slack)
    except Exception as exc:  # pandera raises a mix of its own and pandas errors
        _error(f"{args.data}: cannot infer a schema ({type(exc).__name__}: {exc})")
        return EXIT_FAIL
    return _emit(text, args.output, f"{len(schema.columns)} columns")


def _emit(text: str, output: Path | None, what: str) -> int:
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _error(f"{output}: cannot write it: {exc.strerror or exc}")
        return EXIT_FAIL
    size = len(text.encode("utf-8"))
    print(f"wrote {output} ({what}, {size / 1024:.1f} KB)")
    return EXIT_OK
