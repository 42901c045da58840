"""The checks a deploy runs on the new version where it serves: the user's smoke command, in
a scrubbed environment and its own process group, and the canary bake that asks an
anytime-valid judge until the bake time is over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from mlops_gates.deploy.registry import RENEW_SECONDS

__all__ = [
    "SMOKE_ENV_EXTRA",
    "SMOKE_ENV_KEEP",
    "SMOKE_ENV_PREFIXES",
    "Bake",
    "Smoke",
    "run_bake",
    "run_smoke",
    "smoke_environment",
]

SMOKE_KILL_GRACE_S = 5.0


@dataclass(frozen=True)
class Smoke:
    """The user's smoke command: run through the shell, non-zero or too slow fails."""

    command: str
    timeout: float = 600.0


@dataclass(frozen=True)
class Bake:
    """Hold the canary for ``seconds`` before production moves, asking ``judge`` every
    ``interval`` seconds. The judge answers ("pass" | "bake" | "fail", why); a judge that
    raises counts as "fail" (an error is never a pass). The clock and the sleep are
    injectable so that tests bake without waiting."""

    seconds: float
    judge: Callable[[], tuple[str, str]]
    interval: float = 60.0
    on_inconclusive: Literal["rollback", "promote"] = "rollback"
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def run_bake(
    bake: Bake, say: Callable[[str], None] = print, *, renew: Callable[[], None] | None = None
) -> tuple[str, str, int]:
    """Ask the judge until it fails or the bake time is over: (last answer, why, looks).
    The judge is anytime-valid (`mlops_gates.canary`), so asking often costs no error rate.
    `renew` (the deploy lease's) is called after every pause, at least every RENEW_SECONDS,
    so a bake may outlast the lease's life."""
    deadline = bake.clock() + bake.seconds
    looks = 0
    while True:
        try:
            answer, why = bake.judge()
        except Exception as exc:
            answer, why = "fail", f"the canary judge could not answer ({exc})"
        looks += 1
        if answer not in ("pass", "bake", "fail"):
            answer, why = "fail", f"the canary judge answered {answer!r}: {why}"
        left = deadline - bake.clock()
        say(f"mlops-gates: bake look {looks}: {answer}: {why}")
        if answer == "fail" or left <= 0:
            return answer, why, looks
        rest = min(bake.interval, left)
        while rest > 0:
            pause = min(rest, RENEW_SECONDS) if renew else rest
            bake.sleep(pause)
            rest -= pause
            if renew:
                renew()


SMOKE_ENV_KEEP = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "PWD", "VIRTUAL_ENV", "PYTHONPATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_CLIENT_CERT_PATH",
)  # fmt: skip
SMOKE_ENV_PREFIXES = ("LC_", "MLOPS_GATES_SMOKE_")
SMOKE_ENV_EXTRA = "MLOPS_GATES_SMOKE_ENV"


def smoke_environment(
    environ: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The smoke command's environment: the allow-list above from `environ`, the names
    `MLOPS_GATES_SMOKE_ENV` lists, then `extra` (the model's variables)."""
    listed = set(environ.get(SMOKE_ENV_EXTRA, "").replace(",", " ").split())
    kept = {
        k: v
        for k, v in environ.items()
        if k in SMOKE_ENV_KEEP or k in listed or k.startswith(SMOKE_ENV_PREFIXES)
    }
    return {**kept, **(extra or {})}


def run_smoke(smoke: Smoke, env: dict[str, str]) -> tuple[bool, str]:
    """Run the smoke command in a scrubbed environment (`smoke_environment`) plus `env`;
    (passed, what happened). Output goes to our stdout/stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        proc = subprocess.Popen(
            smoke.command,
            shell=True,
            env=smoke_environment(os.environ, env),
            start_new_session=True,
        )
    except OSError as exc:
        return False, f"smoke command could not start ({exc})"
    try:
        code = proc.wait(timeout=smoke.timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        return False, f"smoke command timed out after {smoke.timeout:g} s"
    if code != 0:
        return False, f"smoke command exited with status {code}"
    return True, "smoke command passed"


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    # The command may have started children (a server, curl): stop its whole group.
    for sig, wait in ((signal.SIGTERM, SMOKE_KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
