"""Shared fixtures: write a small project (data + mlops-gates.yaml) into a folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import scipy.special
import scipy.stats
import yaml
from helpers import binary_frame

# pytester's in-process runs restore sys.modules afterwards, so a module first imported
# inside one (the gates import scipy lazily) is imported again by the next, and scipy's
# compiled modules refuse a second initialisation in one process. Importing them here keeps
# them loaded across runs, whichever test file runs first.
_KEEP_LOADED = (scipy.special, scipy.stats)

# One OpenMP thread for scikit-learn, here and in every process the tests start (train.py,
# `mlops-gates check`, pytest runs, act jobs inherit it). On this 2-core machine, shared
# with the tests' own servers, OpenMP's spinning threads made the Adult example's
# HistGradientBoosting fit 5x slower (train.py: 42 s with the default, 8.7 s with one
# thread, same accuracy to the last digit). setdefault: a caller's own setting wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

Project = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> Project:
    """make_project(config_dict, frame=None, data_name="eval.csv") -> config path."""

    def make(
        config: dict[str, Any] | str,
        frame: pd.DataFrame | None = None,
        data_name: str = "eval.csv",
        where: Path | None = None,
    ) -> Path:
        root = where or tmp_path
        root.mkdir(parents=True, exist_ok=True)
        frame = binary_frame() if frame is None else frame
        if data_name.endswith(".parquet"):
            frame.to_parquet(root / data_name, index=False)
        else:
            frame.to_csv(root / data_name, index=False)
        path = root / "mlops-gates.yaml"
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return make


from mlflow_server import mlflow_server, mlops_gates_tracking_off  # noqa: E402, F401


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local[2] session for the whole test run: starting the JVM costs seconds."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    builder = pyspark_sql.SparkSession.builder.master("local[2]").appName("mlops-gates-tests")
    # Tiny data: compiling generated code and JIT-optimizing the JVM cost more than they
    # save; without them the session starts and the first query runs about 2x faster.
    for key, value in {
        "spark.sql.shuffle.partitions": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.sql.adaptive.enabled": "false",
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    yield spark
    spark.stop()


@pytest.fixture
def engine_ready(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("spark"):
        request.getfixturevalue("spark_session")
