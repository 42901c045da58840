"""`mlops-gates deploy`, `rollback` and `status`: argument parsing, output and exit codes.

Exit status: 0 deployed, rolled back, or already live; 1 refused (gates), smoke failed and
rolled back, a conflicting deploy, MLflow failed, or (`status`) a manifest and its alias
disagree; 2 usage error (options, manifest).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK
from mlops_gates.cli.common import error as _error
from mlops_gates.cli.deploy_bake import add_bake_options, bake_plan
from mlops_gates.cli.registry_args import connection, manifests_in, session, tracking_options
from mlops_gates.cli.status import add_subcommand as add_status

if TYPE_CHECKING:
    from mlops_gates.deploy.deploy import Deployer, Outcome, Provenance, Smoke, Target
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
    add_bake_options(d)
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
    add_status(subparsers)


def _model_choice(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", type=Path, metavar="PATH", help="the model's deploy manifest")
    p.add_argument("--model", metavar="NAME", help="registered model name (instead of --manifest)")
    p.add_argument(
        "--alias", metavar="ALIAS", help="alias to move (default: the manifest's, else production)"
    )


def _common(p: argparse.ArgumentParser) -> None:
    tracking_options(p)
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
        paths = args.manifest or manifests_in(args.manifest_dir)
        targets = [Target.from_manifest(load_manifest(p)) for p in paths]
        conn = connection(args)
    except MlopsGatesError as exc:
        return _error(str(exc))
    smoke = Smoke(args.smoke_command, args.smoke_timeout) if args.smoke_command else None
    try:
        args.bake_plan = bake_plan(args)
    except ValueError as exc:
        return _error(str(exc))
    with session(conn):
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
        conn = connection(args)
    except MlopsGatesError as exc:
        return _error(str(exc))
    with session(conn):
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


# -- helpers ----------------------------------------------------------------------------


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
