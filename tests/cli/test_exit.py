"""The `mlops-gates` process ends without tearing the interpreter down, and loses nothing by it:
exit handlers run, buffered output arrives, the exit status is the command's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import atexit, sys
from pathlib import Path
from mlops_gates.cli.main import exit_now

atexit.register(lambda: Path(sys.argv[1]).write_text("handler ran"))
sys.stdout.write("buffered, no newline")  # still in the buffer when the process ends
sys.stderr.write("to stderr")
exit_now(int(sys.argv[2]))
"""


def test_exit_now_keeps_output_handlers_and_status(tmp_path: Path) -> None:
    for code in (0, 1, 2):
        marker = tmp_path / f"atexit-{code}"
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(marker), str(code)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == code
        assert proc.stdout == "buffered, no newline"
        assert proc.stderr == "to stderr"
        assert marker.read_text() == "handler ran"


def test_the_command_exits_with_mains_status(tmp_path: Path) -> None:
    # A usage error from the real executable path (`python -m mlops_gates` runs `cli.run`).
    missing = tmp_path / "nowhere.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_gates", "check", "--config", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert str(missing) in proc.stderr
    assert "Traceback" not in proc.stderr


GC_PROBE = """
import atexit, gc, sys
from mlops_gates.cli.main import main, run
before = gc.get_threshold()
atexit.register(lambda: print(before, gc.get_threshold()))
args = ["check", "--config", sys.argv[2]]  # a usage error: the quickest whole command
if sys.argv[1] == "main":  # as tests and the plugin call it: the host's collector stays
    sys.exit(main(args))
sys.argv = ["mlops-gates", *args]
run()
"""


def test_only_the_commands_own_process_collects_rarely(tmp_path: Path) -> None:
    def thresholds(how: str) -> str:
        missing = str(tmp_path / "nowhere.yaml")
        proc = subprocess.run(
            [sys.executable, "-c", GC_PROBE, how, missing],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        return proc.stdout.strip().splitlines()[-1]

    import gc

    from mlops_gates._gc import GC_THRESHOLDS

    default = str(gc.get_threshold())
    assert thresholds("run") == f"{default} {GC_THRESHOLDS}"
    assert thresholds("main") == f"{default} {default}"
