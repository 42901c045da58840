"""`mlops-gates` command line: the parser assembled from the command groups, and `main`.

Each group lives in its own module of `mlops_gates.cli` and registers its subcommands with
`add_subcommands(subparsers)`; exit codes, the error line and step outputs are in
`cli.common`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import NoReturn

from mlops_gates._gc import GC_THRESHOLDS
from mlops_gates._version import __version__
from mlops_gates.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

__all__ = ["build_parser", "exit_now", "main", "run", "short_process_gc"]


def build_parser() -> argparse.ArgumentParser:
    """The whole `mlops-gates` parser: every subcommand, each with its handler as `func`."""
    from mlops_gates.cli import attest, check, data, deploy, init, monitor, promote

    parser = argparse.ArgumentParser(
        prog="mlops-gates",
        description="CI gates for machine-learning models: schema, sliced metrics, fairness "
        "and baseline comparison, configured in mlops-gates.yaml.",
    )
    parser.add_argument("--version", action="version", version=f"mlops-gates {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check.add_subcommands(sub)  # check, github-report, log
    init.add_subcommands(sub)  # config-schema, init
    promote.add_subcommands(sub)
    deploy.add_subcommands(sub)  # deploy, rollback, status

    from mlops_gates.cli.alerts import add_subcommands as add_alert_commands

    add_alert_commands(sub)  # alert
    monitor.add_subcommands(sub)

    from mlops_gates.cli.canary import add_subcommands as add_canary_command

    add_canary_command(sub)  # canary
    data.add_subcommands(sub)  # profile, schema infer
    attest.add_subcommands(sub)  # attest, verify
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `mlops-gates` command; returns its exit status (see `cli.common`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # pandera imports pyspark.pandas whenever PySpark is installed (the [spark] extra), and
    # PySpark then warns, several times per run, that it does not support pandas 3: noise
    # about pandera's PySpark backend, which is never used. The command line is the
    # application, so it may set this filter; the library never does.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support", category=FutureWarning
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `mlops-gates check | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def run() -> NoReturn:
    """The `mlops-gates` executable (and `python -m mlops_gates`): `main`, then exit.

    Tests call `main`, which returns; only a process of its own ends here (and tunes its
    garbage collector, `short_process_gc`)."""
    short_process_gc()
    exit_now(main())


def short_process_gc() -> None:
    """Make the garbage collector cheap for a command's process.

    With the default thresholds, the imports of pandas, scikit-learn, pandera and the rest set
    off several full collections, each walking every object loaded so far: about 0.5 s of CPU
    in a cold `check` (`bench/coldrun.py`). A command allocates its data once and ends, so
    collections this rare cost it no memory to speak of; a process that lives on (a server
    command) still collects. Only for a process of its own, never for a host's whole life:
    the pytest plugin sets these thresholds only while the gates run, then restores pytest's."""
    gc.set_threshold(*GC_THRESHOLDS)  # for the whole process: no host to give back to


def exit_now(code: int) -> NoReturn:
    """End the process with `code` without tearing the interpreter down.

    A normal exit frees the modules of pandas, scikit-learn, matplotlib and the rest one by one:
    about 0.3 s of a 3 s `check` spent on a process that is ending anyway (mypy ends the same
    way). Exit handlers still run and output is flushed first; while another thread is alive
    (MLflow's asynchronous logging, say) the normal exit waits for it instead."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # logging's flush and whatever libraries registered
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing left to say there.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
