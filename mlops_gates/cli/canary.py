"""`mlops-gates canary`: is the canary no worse than stable? Once, or as an HTTP endpoint.

The judging lives in `mlops_gates.canary`. Exit status: 0 pass (the canary is no worse
than stable by more than the margin); 1 fail (it is worse); 3 keep baking (not decided
yet); 2 usage or data error. With ``--serve`` it answers over HTTP on 127.0.0.1 until
stopped (Argo Rollouts' web provider, Flagger's webhooks: docs/how-to/canary-argo-flagger.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, error, step_outputs

if TYPE_CHECKING:
    from mlops_gates.canary import CanarySpec

__all__ = ["EXIT_BAKE", "add_judge_options", "add_subcommands", "exit_code", "spec_from_args"]

EXIT_BAKE = 3  # not decided yet: keep baking (distinct from fail and from usage errors)


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `canary`."""
    p = subparsers.add_parser(
        "canary",
        help="judge the canary against stable on logged predictions (pass / keep baking / fail)",
        description="Compare the canary's and stable's rows of the logged predictions (one "
        "row per request, --variant-column naming who answered) on accuracy (--label and "
        "--prediction) and on business metrics (--metric), with anytime-valid confidence "
        "sequences: it may be asked as often as you like. Exit status: 0 pass; 1 fail; 3 keep "
        "baking; 2 usage or data error. --serve answers over HTTP instead (Argo Rollouts' web "
        "provider reads $.verdict; Flagger's webhooks read the status code).",
    )
    add_judge_options(p, required=True)
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument(
        "--serve",
        action="store_true",
        help="answer over HTTP on 127.0.0.1 until stopped: GET / (Argo), POST "
        "/flagger/rollout and /flagger/confirm-promotion (Flagger)",
    )
    p.add_argument("--port", type=int, default=8787, metavar="N", help="port (default: 8787)")
    p.set_defaults(func=_canary)


def add_judge_options(p: argparse.ArgumentParser, *, required: bool, prefix: str = "") -> None:
    """The options that say where the canary's and stable's rows are (shared with deploy's
    ``--bake``, which prefixes them with ``bake-``)."""
    p.add_argument(
        f"--{prefix}data",
        type=Path,
        required=required,
        metavar="PATH",
        help="logged predictions (Parquet or CSV), one row per request",
    )
    p.add_argument(
        f"--{prefix}variant-column",
        default="variant",
        metavar="COL",
        help="column naming who answered (default: variant)",
    )
    p.add_argument(
        f"--{prefix}canary", default="canary", metavar="VALUE", help="canary's value there"
    )
    p.add_argument(
        f"--{prefix}stable", default="stable", metavar="VALUE", help="stable's value there"
    )
    p.add_argument(f"--{prefix}label", metavar="COL", help="label column (rows without wait)")
    p.add_argument(f"--{prefix}prediction", metavar="COL", help="prediction column")
    p.add_argument(
        f"--{prefix}metric",
        action="append",
        default=[],
        metavar="COL:LO:HI[:higher|lower]",
        help="a business metric column with values in [LO, HI] (repeatable)",
    )
    p.add_argument(
        f"--{prefix}margin",
        type=float,
        default=0.02,
        metavar="FRACTION",
        help="tolerated regression, as a fraction of each metric's range (default: 0.02)",
    )
    p.add_argument(
        f"--{prefix}alpha",
        type=float,
        default=0.05,
        metavar="A",
        help="chance of ever a wrong pass or fail, over every look (default: 0.05)",
    )
    p.add_argument(f"--{prefix}time-column", metavar="COL", help="timestamp column (with --since)")
    p.add_argument(
        f"--{prefix}since",
        metavar="ISO8601",
        help="only rows from this time on (when the canary started)",
    )


def spec_from_args(args: argparse.Namespace, *, prefix: str = "") -> CanarySpec:
    """The judge's settings from the options `add_judge_options` added; ValueError with
    the option named when one is wrong."""
    from mlops_gates.canary import CanarySpec, Metric

    def get(name: str) -> Any:
        return getattr(args, (prefix + name).replace("-", "_"))

    since = None
    if get("since") is not None:
        if get("time-column") is None:
            raise ValueError(f"--{prefix}since needs --{prefix}time-column")
        try:
            since = datetime.fromisoformat(get("since").replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"--{prefix}since {get('since')!r} is not an ISO 8601 time, e.g. "
                "2026-12-06T12:00:00Z"
            ) from None
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if (get("label") is None) != (get("prediction") is None):
        raise ValueError(f"--{prefix}label and --{prefix}prediction go together")
    if not 0.0 < get("alpha") < 1.0:
        raise ValueError(f"--{prefix}alpha must be in (0, 1), e.g. 0.05")
    if not 0.0 <= get("margin") < 1.0:
        raise ValueError(f"--{prefix}margin is a fraction of the range in [0, 1), e.g. 0.02")
    metrics = tuple(Metric.parse(m) for m in get("metric"))
    if not metrics and get("label") is None:
        raise ValueError(
            f"nothing to compare: pass --{prefix}label and --{prefix}prediction, or "
            f"--{prefix}metric COL:LO:HI"
        )
    return CanarySpec(
        variant_column=get("variant-column"),
        canary=get("canary"),
        stable=get("stable"),
        label=get("label"),
        prediction=get("prediction"),
        metrics=metrics,
        margin=get("margin"),
        alpha=get("alpha"),
        time_column=get("time-column"),
        since=since,
    )


def exit_code(answer: str) -> int:
    """The exit status of a verdict."""
    return {"pass": EXIT_OK, "fail": EXIT_FAIL}.get(answer, EXIT_BAKE)


def _canary(args: argparse.Namespace) -> int:
    from mlops_gates.canary import judge_file, serve
    from mlops_gates.errors import DataError

    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        return error(str(exc))
    if args.serve:
        try:
            server = serve(lambda: judge_file(args.data, spec), port=args.port)
        except OSError as exc:
            return error(f"cannot listen on 127.0.0.1:{args.port} ({exc}); pick another --port")
        host, port = server.server_address[:2]
        print(f"mlops-gates canary: serving on http://{host!s}:{port}/", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return EXIT_OK
    try:
        verdict = judge_file(args.data, spec)
    except DataError as exc:
        return error(str(exc))
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        for note in verdict.notes:
            print(f"mlops-gates: note: {note}", file=sys.stderr)
        for m in verdict.metrics:
            print(m.message)
        print(
            f"canary: {verdict.answer} ({verdict.rows['canary']} canary rows, "
            f"{verdict.rows['stable']} stable rows; alpha {verdict.alpha:g}, anytime-valid)"
        )
    step_outputs({"verdict": verdict.answer})
    return exit_code(verdict.answer)
