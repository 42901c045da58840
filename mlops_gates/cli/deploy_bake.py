"""`mlops-gates deploy --bake`: the options that hold a canary and the judge they ask (a
shell command, an HTTP endpoint, or logged predictions judged by `mlops_gates.canary`)."""

from __future__ import annotations

import argparse
import json
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_gates.deploy.deploy import Bake

__all__ = ["add_bake_options", "bake_plan"]


def add_bake_options(d: argparse.ArgumentParser) -> None:
    """The --bake* options of `deploy`, the canary judge's options prefixed bake- included."""
    d.add_argument(
        "--bake",
        metavar="DURATION",
        help="hold the canary this long (e.g. 30m or 2h; the deploy lease is renewed meanwhile) "
        "asking the canary judge (--bake-command, or --bake-data with the `mlops-gates "
        "canary` options prefixed bake-) every --bake-interval; a fail rolls the canary back, "
        "a pass at the end promotes (needs --canary-alias)",
    )
    d.add_argument(
        "--bake-interval",
        metavar="DURATION",
        default="1m",
        help="how often the judge is asked during the bake (default: 1m)",
    )
    d.add_argument(
        "--bake-command",
        metavar="CMD",
        help="the judge as a shell command: exit 0 pass, 1 fail, 3 keep baking (what "
        "`mlops-gates canary` exits with); anything else is a fail",
    )
    d.add_argument(
        "--bake-url",
        metavar="URL",
        help="the judge as an HTTP endpoint answering JSON with a `verdict` field (what "
        "`mlops-gates canary --serve` answers at /); an error or another answer is a fail",
    )
    d.add_argument(
        "--if-inconclusive",
        choices=("rollback", "promote"),
        default="rollback",
        help="what to do when the bake ends undecided (default: rollback)",
    )
    from mlops_gates.cli.canary import add_judge_options

    add_judge_options(d, required=False, prefix="bake-")


def bake_plan(args: argparse.Namespace) -> Bake | None:
    """The bake the options ask for, or None; ValueError naming the option when wrong."""
    from mlops_gates.config import parse_duration
    from mlops_gates.deploy.deploy import Bake

    if args.bake is None:
        if args.bake_command or args.bake_data or args.bake_url:
            raise ValueError(
                "--bake-command, --bake-url and --bake-data judge a bake: add --bake DURATION"
            )
        return None
    if not args.canary_alias:
        raise ValueError("--bake holds the canary: add --canary-alias canary")
    # 0s: one look, then decide (a check of the canary's traffic so far, no hold).
    zero = args.bake.strip().rstrip("smhdw").strip("0") == "" and args.bake.strip()[:1] == "0"
    seconds = 0.0 if zero else parse_duration(args.bake).total_seconds()
    interval = parse_duration(args.bake_interval).total_seconds()
    judges = [j for j in (args.bake_command, args.bake_url, args.bake_data) if j is not None]
    if len(judges) != 1:
        raise ValueError(
            "--bake needs one judge: --bake-command CMD, --bake-url URL or --bake-data PATH"
        )
    if args.bake_url is not None:
        url = args.bake_url

        def judge() -> tuple[str, str]:
            return _ask_url(url)

    elif args.bake_command is not None:
        command = args.bake_command

        def judge() -> tuple[str, str]:
            code = subprocess.run(command, shell=True, check=False).returncode
            answer = {0: "pass", 1: "fail", 3: "bake"}.get(code, "fail")
            return answer, f"bake command exited with status {code}"

    else:
        from mlops_gates.canary import judge_file
        from mlops_gates.cli.canary import spec_from_args

        spec = spec_from_args(args, prefix="bake-")
        data = args.bake_data

        def judge() -> tuple[str, str]:
            verdict = judge_file(data, spec)
            return verdict.answer, verdict.message

    return Bake(seconds, judge, interval=max(interval, 1.0), on_inconclusive=args.if_inconclusive)


def _ask_url(url: str) -> tuple[str, str]:
    """GET the judge's verdict document; an answer it cannot read is a fail with the reason."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return "fail", f"the canary judge at {url} did not answer ({exc})"
    verdict = doc.get("verdict") if isinstance(doc, dict) else None
    message = str(doc.get("message", "")) if isinstance(doc, dict) else ""
    return str(verdict), message or f"{url} answered {verdict!r}"
