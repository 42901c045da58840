"""What the registry commands (`deploy`, `rollback`, `status`) share: the tracking options,
the MLflow connection they name, the bounded MLflow session, and the manifests folder."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_gates.sources.mlflow import MlflowConnection

__all__ = ["connection", "manifests_in", "session", "tracking_options"]


def tracking_options(p: argparse.ArgumentParser) -> None:
    """--tracking-uri and --config: where the MLflow registry is."""
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


@contextmanager
def session(conn: MlflowConnection) -> Iterator[None]:
    """MLflow calls under our bounded HTTP settings (a dead server fails in seconds)."""
    from mlops_gates.sources.mlflow import mlflow_session

    with mlflow_session(conn):
        yield


def manifests_in(folder: Path) -> list[Path]:
    """The deploy manifests in `folder`; PromotionError saying what to do when none."""
    from mlops_gates.errors import PromotionError

    found = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not found:
        raise PromotionError(
            f"no deploy manifest in {folder}/ (looked for *.yaml): pass --manifest PATH, or "
            "merge a promotion pull request (`mlops-gates promote`) first"
        )
    return found


def connection(args: argparse.Namespace) -> MlflowConnection:
    """The MLflow connection the options (else mlops-gates.yaml, else the environment) name."""
    from mlops_gates.config import CONFIG_ENV, find_config, load_config
    from mlops_gates.sources.mlflow import connection_for

    # Optional here (the URI may come from --tracking-uri), but found as every command
    # finds it; one asked for by --config or $MLOPS_GATES_CONFIG must exist.
    path = find_config(args.config)
    asked = args.config is not None or bool(os.environ.get(CONFIG_ENV))
    config = load_config(path) if asked or path.is_file() else None
    return connection_for(config, Path.cwd(), uri=args.tracking_uri)
