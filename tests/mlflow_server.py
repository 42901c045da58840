"""A real `mlflow server` on loopback for the tests, and the fixtures that share it.

One server per test session (its start costs ~10 s): SQLite backend and a local artifact
root in a temporary folder, `--workers 1` and job execution off (the defaults start ~15
processes in ~30 s), in its own process group so that stopping it stops every child.
The kill test stops and restarts the same server on the same port and store.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MlflowServer:
    """`python -m mlflow server` bound to 127.0.0.1; `start()`, `stop()`, `kill()`."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None

    def start(self) -> None:
        assert self.proc is None, "already running"
        self.root.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        cmd = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        t0 = time.perf_counter()
        with open(self.log_path, "ab") as log:
            # Own process group: the server forks workers that can outlive a plain SIGTERM.
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        try:
            self._wait_healthy(t0 + START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - t0

    def _wait_healthy(self, deadline: float) -> None:
        assert self.proc is not None
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"mlflow server not healthy in {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once: the server vanishes as in a crash."""
        self._signal_group(signal.SIGKILL)
        self._reap(10.0)

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL whatever is left after a few seconds."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGTERM)
        if not self._reap(10.0):
            self._signal_group(signal.SIGKILL)
            self._reap(10.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.proc is None:
            return
        # The group id is the server's pid (start_new_session); children stay in it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def _reap(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        # Children of the group may still be exiting; wait until none is left.
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                break
            time.sleep(0.05)
        else:
            return False
        self.proc = None
        return True


def model_frame(n: int = 600, seed: int = 0) -> Any:
    """Two numeric features, a 0/1 label that depends on them, two slice columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "sex": rng.choice(["F", "M"], n),
            "region": rng.choice(["north", "south", "east/west"], n),
        }
    )
    df["y"] = (df.x1 + 0.7 * df.x2 + rng.normal(scale=0.6, size=n) > 0).astype(int)
    return df


@dataclass
class Registered:
    """Models registered on the test server: `name`, versions by role, their runs."""

    name: str
    versions: dict[str, str]
    run_ids: dict[str, str]
    experiment_id: str


def register_models(
    url: str, name: str, frame: Any, *, seconds: list[float] | None = None
) -> Registered:
    """Register a logistic regression on x1 and x2 (version 1, alias `challenger`) and one
    on x1 only (version 2, alias `champion`), each logged by its own training run."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    client = MlflowClient(url, url)
    exp = client.get_experiment_by_name(f"train-{name}")
    exp_id = exp.experiment_id if exp else client.create_experiment(f"train-{name}")
    versions: dict[str, str] = {}
    run_ids: dict[str, str] = {}
    for role, features, alias in (
        ("candidate", ["x1", "x2"], "challenger"),
        ("baseline", ["x1"], "champion"),
    ):
        model = LogisticRegression().fit(frame[features], frame["y"])
        run = client.create_run(exp_id, run_name=f"train {role}")
        run_id = run.info.run_id
        # mlflow.sklearn.log_model logs to the active run. (No set_registry_uri: it exports
        # MLFLOW_REGISTRY_URI, and set_registry_uri(None) leaves that behind.)
        mlflow.set_tracking_uri(url)
        try:
            with mlflow.start_run(run_id=run_id):
                # pip_requirements given: inferring them runs a subprocess (6-11 s).
                info = mlflow.sklearn.log_model(
                    model, name="model", pip_requirements=["scikit-learn"]
                )
        finally:
            # None unsets it, and the MLFLOW_TRACKING_URI that set_tracking_uri exported.
            mlflow.set_tracking_uri(None)
        if not versions:
            client.create_registered_model(name)
        mv = client.create_model_version(
            name, info.model_uri, run_id=run_id, model_id=info.model_id, await_creation_for=0
        )
        client.set_registered_model_alias(name, alias, mv.version)
        versions[role] = str(mv.version)
        run_ids[role] = run_id
    if seconds is not None:
        seconds.append(time.perf_counter() - t0)
    return Registered(name, versions, run_ids, str(exp_id))


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real `mlflow server` for the session (SQLite + local artifacts, 127.0.0.1)."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def mlops_gates_tracking_off() -> Iterator[None]:
    """The suite's other tests run `check` and `pytest --mlops-gates` many times; each would
    otherwise create and migrate a SQLite tracking store (3-6 s). Tests of tracking turn it
    back on with `monkeypatch.delenv("MLOPS_GATES_TRACKING")`."""
    previous = os.environ.get("MLOPS_GATES_TRACKING")
    os.environ["MLOPS_GATES_TRACKING"] = "off"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLOPS_GATES_TRACKING", None)
        else:
            os.environ["MLOPS_GATES_TRACKING"] = previous
