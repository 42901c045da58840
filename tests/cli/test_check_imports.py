"""A `check` imports only what its config uses: a metric gate on stored predictions, all
passing, loads no pandera, hypothesis, matplotlib, skops, scikit-learn or PySpark (each is
a noticeable part of a cold run, bench/coldrun.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import Project
from helpers import base_config

PROBE = """
import json, sys
from mlops_gates.cli import main
code = main(["check", "--config", sys.argv[1], "--report-dir", sys.argv[2]])
heavy = ("pandera", "hypothesis", "matplotlib", "skops", "sklearn", "pyspark", "mlflow")
print(json.dumps({"exit": code, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def test_a_metric_only_check_loads_no_schema_model_or_plot_library(
    make_project: Project, tmp_path: Path
) -> None:
    path = make_project(base_config())
    env = {**os.environ, "MLOPS_GATES_TRACKING": "off"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["exit"] == 0  # every gate passed: report.html draws no plot
    assert doc["loaded"] == []
    assert (tmp_path / "out" / "report.html").is_file()
