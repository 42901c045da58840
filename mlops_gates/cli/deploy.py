"""`mlops-gates deploy`, `rollback` and `status`: argument parsing, output and exit codes.

Exit status: 0 deployed, rolled back, or already live; 1 refused (gates), smoke failed and
rolled back, a conflicting deploy, MLflow failed, or (`status`) a manifest and its alias
disagree; 2 usage error (options, manifest).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK
from mlops_gates.cli.common import error as _error

if TYPE_CHECKING:
    from mlops_gates.deploy.deploy import Bake, Deployer, Outcome, Provenance, Smoke, Target
    from mlops_gates.github import GitHubClient
    from mlops_gates.sources.mlflow import MlflowConnection

__all__ = [
    "add_subcommands",
]


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `deploy`, `rollback` and `status` on the `mlops-gates` parser."""
    d = subparsers.add_parser(
        "deploy",
        help="move the registry alias to the version the deploy manifest names",
        description="Carry out deploy/<model>.yaml (run it on the default branch after a "
        "promotion pull request is merged): check that the version passed its gates under "
        "the config the manifest names, move the MLflow registry alias (a canary alias "
        "first if asked), run the smoke command, and move the alias back if it fails. "
        "A manifest that is already live changes nothing. In GitHub Actions (or with "
        "--github) the deployment is also recorded through GitHub's Deployments API. "
        "Exit status: 0 deployed or already live; 1 refused, rolled back, or failed; 2 "
        "usage error.",
    )
    d.add_argument(
        "--manifest",
        action="append",
        type=Path,
        metavar="PATH",
        help="manifest to deploy (repeatable; default: every deploy/*.yaml)",
    )
    d.add_argument(
        "--manifest-dir",
        type=Path,
        default=Path("deploy"),
        metavar="DIR",
        help="folder searched when --manifest is not given (default: deploy)",
    )
    d.add_argument(
        "--smoke-command",
        metavar="CMD",
        help="shell command run after the alias moves, with MODEL_URI, MODEL_NAME, "
        "MODEL_VERSION, MODEL_ALIAS, MODEL_ALIAS_URI and MLFLOW_TRACKING_URI set; a "
        "non-zero exit or a timeout moves the alias back",
    )
    d.add_argument(
        "--smoke-timeout",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long the smoke command may run (default: 600)",
    )
    d.add_argument(
        "--canary-alias",
        metavar="ALIAS",
        help="move and smoke-test this alias (e.g. canary) before the manifest's alias",
    )
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
    _common(d)
    d.set_defaults(func=_deploy)

    r = subparsers.add_parser(
        "rollback",
        help="move the alias back to the previous (or a named) version",
        description="Move a registry alias back to the version it held before the current "
        "one (from the deployment history mlops-gates records), or to --to VERSION, and "
        "record why. The GitOps way is to revert the promotion pull request, whose merge "
        "deploys the earlier manifest; this command is for when that is too slow. Exit "
        "status: 0 rolled back or already there; 1 refused or failed; 2 usage error.",
    )
    _model_choice(r)
    r.add_argument(
        "--canary-alias",
        default="canary",
        metavar="ALIAS",
        help="a canary alias serving the version rolled back from moves too (default: canary)",
    )
    r.add_argument("--to", metavar="VERSION", help="version to move to (default: the previous)")
    r.add_argument("--reason", required=True, help="why (recorded with the rollback)")
    _common(r)
    r.set_defaults(func=_rollback)

    s = subparsers.add_parser(
        "status",
        help="which version each alias points to, since when, and from which pull request",
        description="Show every registry alias of the manifests' models (or of --model): "
        "the version, when and how it got there (deploy, rollback, auto-rollback), the "
        "commit and pull request, and whether it matches the manifest in the repository. "
        "Exit status: 0 shown and every manifest agrees with its alias; 1 a manifest and "
        "its alias disagree (out of sync: deploy pending, failed or rolled back), or MLflow "
        "failed; 2 usage error.",
    )
    s.add_argument(
        "--manifest", action="append", type=Path, metavar="PATH", help="manifest (repeatable)"
    )
    s.add_argument(
        "--manifest-dir", type=Path, default=Path("deploy"), metavar="DIR", help=argparse.SUPPRESS
    )
    s.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="registered model name"
    )
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _tracking_options(s)
    s.set_defaults(func=_status)


def _model_choice(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=Path, metavar="PATH", help="the model's deploy manifest")
    p.add_argument("--model", metavar="NAME", help="registered model name (instead of --manifest)")
    p.add_argument(
        "--alias", metavar="ALIAS", help="alias to move (default: the manifest's, else production)"
    )


def _tracking_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking server (default: tracking.uri of mlops-gates.yaml, else "
        "$MLFLOW_TRACKING_URI)",
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="mlops-gates.yaml whose tracking settings to use (default: $MLOPS_GATES_CONFIG, "
        "else ./mlops-gates.yaml if present)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    _tracking_options(p)
    p.add_argument(
        "--override-gates",
        metavar="REASON",
        help="deploy even though the version has no passing gates record; the reason is "
        "recorded on the model version and the deployment",
    )
    p.add_argument(
        "--verify-key",
        action="append",
        type=Path,
        metavar="PATH",
        help="Ed25519 public key (PEM) trusted to sign gate attestations (repeatable; "
        "default: $MLOPS_GATES_VERIFY_KEY); when set, the version's files must match a "
        "signed passing attestation (docs/attestations.md)",
    )
    p.add_argument(
        "--trust-root",
        type=Path,
        metavar="FILE",
        help="keyless: the Sigstore trusted_root.json (or Fulcio PEM) a keyless attestation "
        "must chain to (default: $MLOPS_GATES_TRUST_ROOT); with a signer pinned below, the "
        "version's files must match a passing attestation signed by that workflow",
    )
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--certificate-identity",
        metavar="URI",
        help="keyless: the signer workflow, exactly: https://github.com/OWNER/REPO/"
        ".github/workflows/FILE@REF (default: $MLOPS_GATES_CERTIFICATE_IDENTITY)",
    )
    who.add_argument(
        "--certificate-identity-regexp",
        metavar="REGEX",
        help="keyless: a pattern the signer workflow must match in full (default: "
        "$MLOPS_GATES_CERTIFICATE_IDENTITY_REGEXP)",
    )
    p.add_argument(
        "--certificate-oidc-issuer",
        metavar="URL",
        help="keyless: the OIDC issuer the certificate must name (default: "
        "$MLOPS_GATES_CERTIFICATE_OIDC_ISSUER, else GitHub Actions')",
    )
    p.add_argument(
        "--environment",
        metavar="NAME",
        help="GitHub environment of the deployment record (default: the alias)",
    )
    gh = p.add_mutually_exclusive_group()
    gh.add_argument(
        "--github",
        dest="github",
        action="store_true",
        default=None,
        help="record a GitHub deployment (default: when running in GitHub Actions)",
    )
    gh.add_argument("--no-github", dest="github", action="store_false", help="do not")
    p.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")
    p.add_argument("--sha", metavar="SHA", help="commit being deployed (default: $GITHUB_SHA)")
    p.add_argument(
        "--pr",
        type=int,
        metavar="N",
        help="promotion pull request (default: looked up from the commit)",
    )


def _bake(args: argparse.Namespace) -> Bake | None:
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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


# -- commands ---------------------------------------------------------------------------


def _deploy(args: argparse.Namespace) -> int:
    from mlops_gates.deploy.deploy import Smoke, Target
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.promote.manifest import load_manifest

    if args.override_gates is not None and not args.override_gates.strip():
        return _error("--override-gates needs a reason, e.g. --override-gates 'hotfix, INC-123'")
    try:
        paths = args.manifest or _manifests_in(args.manifest_dir)
        targets = [Target.from_manifest(load_manifest(p)) for p in paths]
        conn = _connection(args)
    except MlopsGatesError as exc:
        return _error(str(exc))
    smoke = Smoke(args.smoke_command, args.smoke_timeout) if args.smoke_command else None
    try:
        args.bake_plan = _bake(args)
    except ValueError as exc:
        return _error(str(exc))
    with _session(conn):
        outcomes, worst = _deploy_all(args, conn, targets, smoke)
    _outputs(outcomes)
    return worst


def _deploy_all(
    args: argparse.Namespace, conn: MlflowConnection, targets: list[Target], smoke: Smoke | None
) -> tuple[list[Outcome], int]:
    from mlops_gates.errors import MlopsGatesError

    worst = EXIT_OK
    outcomes: list[Outcome] = []
    for target in targets:
        try:
            deployer, client = _deployer(args, conn, target.model)
        except MlopsGatesError as exc:
            return outcomes, _error(str(exc))
        try:
            outcome = deployer.deploy(
                target,
                smoke=smoke,
                canary=args.canary_alias,
                override=args.override_gates,
                bake=args.bake_plan,
            )
        except MlopsGatesError as exc:
            _error(str(exc))
            worst = EXIT_FAIL
            continue
        finally:
            if client is not None:
                client.close()
        outcomes.append(outcome)
        _print_outcome(outcome)
        if not outcome.ok:
            worst = EXIT_FAIL
    return outcomes, worst


def _rollback(args: argparse.Namespace) -> int:
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.promote.manifest import load_manifest

    if not args.reason.strip():
        return _error("--reason must say why (it is recorded with the rollback)")
    if args.override_gates is not None and not args.override_gates.strip():
        return _error("--override-gates needs a reason")
    try:
        model, alias = args.model, args.alias
        if args.manifest is not None:
            manifest = load_manifest(args.manifest)
            model = model or manifest["model"]["name"]
            alias = alias or manifest["alias"]
        if not model:
            return _error("which model? pass --manifest deploy/<model>.yaml or --model NAME")
        conn = _connection(args)
    except MlopsGatesError as exc:
        return _error(str(exc))
    with _session(conn):
        try:
            deployer, client = _deployer(args, conn, model)
        except MlopsGatesError as exc:
            return _error(str(exc))
        try:
            outcome = deployer.rollback(
                model,
                alias or "production",
                to=args.to,
                reason=args.reason,
                override=args.override_gates,
                canary=args.canary_alias or None,
            )
        except MlopsGatesError as exc:
            return _error(str(exc), EXIT_FAIL)
        finally:
            if client is not None:
                client.close()
    _print_outcome(outcome)
    _outputs([outcome])
    return EXIT_OK if outcome.ok else EXIT_FAIL


def _status(args: argparse.Namespace) -> int:
    from mlops_gates.deploy.status import alias_status, format_status, out_of_sync
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.promote.manifest import load_manifest

    try:
        wanted: dict[str, dict[str, str]] = {}  # model -> alias -> manifest version
        sources: dict[tuple[str, str], str] = {}  # (model, alias) -> manifest path
        paths = args.manifest or ([] if args.model else _manifests_in(args.manifest_dir))
        for p in paths:
            m = load_manifest(p)
            wanted.setdefault(m["model"]["name"], {})[m["alias"]] = m["model"]["version"]
            sources[(m["model"]["name"], m["alias"])] = str(p)
        for name in args.model:
            wanted.setdefault(name, {})
        conn = _connection(args)
    except MlopsGatesError as exc:
        return _error(str(exc))
    try:
        with _session(conn):
            rows = [r for model, want in wanted.items() for r in alias_status(conn, model, want)]
    except MlopsGatesError as exc:
        return _error(str(exc), EXIT_FAIL)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_status(rows))
    # Out of sync is what a scheduled `status` job exists to catch: it must fail the job.
    drift = out_of_sync(rows, sources)
    if drift:
        from mlops_gates._text import safe_line

        for line in drift:  # model names and paths come from files: escape them
            print(safe_line(f"mlops-gates: {line}"), file=sys.stderr)
    return EXIT_FAIL if drift else EXIT_OK


# -- helpers ----------------------------------------------------------------------------


@contextmanager
def _session(conn: MlflowConnection) -> Iterator[None]:
    """MLflow calls under our bounded HTTP settings (a dead server fails in seconds)."""
    from mlops_gates.sources.mlflow import mlflow_session

    with mlflow_session(conn):
        yield


def _manifests_in(folder: Path) -> list[Path]:
    from mlops_gates.errors import PromotionError

    found = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not found:
        raise PromotionError(
            f"no deploy manifest in {folder}/ (looked for *.yaml): pass --manifest PATH, or "
            "merge a promotion pull request (`mlops-gates promote`) first"
        )
    return found


def _connection(args: argparse.Namespace) -> MlflowConnection:
    from mlops_gates.config import CONFIG_ENV, find_config, load_config
    from mlops_gates.sources.mlflow import connection_for

    # Optional here (the URI may come from --tracking-uri), but found as every command
    # finds it; one asked for by --config or $MLOPS_GATES_CONFIG must exist.
    path = find_config(args.config)
    asked = args.config is not None or bool(os.environ.get(CONFIG_ENV))
    config = load_config(path) if asked or path.is_file() else None
    return connection_for(config, Path.cwd(), uri=args.tracking_uri)


def _deployer(
    args: argparse.Namespace, conn: MlflowConnection, model: str
) -> tuple[Deployer, GitHubClient | None]:
    from mlops_gates.attest.gate import Keyless
    from mlops_gates.deploy.deploy import Deployer, Provenance
    from mlops_gates.deploy.registry import Registry

    provenance = Provenance.from_env(sha=args.sha, pr=args.pr)
    use_github = args.github
    if use_github is None:
        use_github = os.environ.get("GITHUB_ACTIONS") == "true"
    client = None
    deployer = Deployer(Registry(conn, model), provenance, tracking_uri=conn.tracking_uri)
    deployer.verify_keys = tuple(args.verify_key or ())
    deployer.keyless = Keyless(
        args.trust_root,
        args.certificate_identity,
        args.certificate_identity_regexp,
        args.certificate_oidc_issuer,
    )
    if use_github:
        from mlops_gates.deploy.deployments import GitHubRecorder, pull_request_of
        from mlops_gates.github import GitHubClient

        client = GitHubClient.from_env(args.repo)
        if provenance.pr is None:
            provenance = _with_pr(provenance, pull_request_of(client, provenance.sha))
        deployer.provenance = provenance
        deployer.recorder = GitHubRecorder(client, provenance, args.environment)
    return deployer, client


def _with_pr(p: Provenance, pr: int | None) -> Provenance:
    from dataclasses import replace

    return replace(p, pr=pr)


def _print_outcome(outcome: Outcome) -> None:
    stream = sys.stdout if outcome.ok else sys.stderr
    prefix = "" if outcome.ok else "mlops-gates: error: "
    print(prefix + outcome.message, file=stream)


def _outputs(outcomes: list[Outcome]) -> None:
    # The deploy action's outputs come from here.
    if not outcomes:
        return
    from mlops_gates.cli.common import step_outputs

    last = outcomes[-1]
    status = "unchanged" if all(o.status == "unchanged" for o in outcomes) else last.status
    if any(not o.ok for o in outcomes):
        status = next(o.status for o in outcomes if not o.ok)
    step_outputs(
        {
            "status": status,
            "model-version": last.live or "",
            "previous-version": last.previous or "",
        },
    )
