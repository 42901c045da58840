"""pandera is imported without `pyspark.pandas` (half a second of a cold check, and PySpark's
pandas-3 warning), validates as before, and leaves `pyspark.pandas` to import as it would."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

SPARK_PANDAS = """
def _import_spark_pandas():
    try:
        import pyspark.pandas
    except Exception as exc:  # pyspark 4.3 fails on pandas 3.1: the same failure, either way
        return f"{type(exc).__name__}: {exc}"
    return pyspark.pandas.__name__
"""

PROBE = (
    SPARK_PANDAS
    + """
import json, sys, warnings
warnings.simplefilter("error", FutureWarning)  # PySpark's pandas-3 warning would raise
import pandas as pd
from mlops_gates.gates.schema_import import import_pandera

import_pandera()
import pandera.pandas as pa
import pandera.errors as pe

schema = pa.DataFrameSchema({"x": pa.Column(int, pa.Check.ge(0))})
try:
    schema.validate(pd.DataFrame({"x": [1, -1]}), lazy=True)
    caught = None
except pe.SchemaErrors as exc:
    caught = exc.failure_cases["failure_case"].tolist()
loaded = sorted(m for m in ("pyspark", "pyspark.pandas") if m in sys.modules)
blocked = "pyspark.pandas" in sys.modules and sys.modules["pyspark.pandas"] is None
warnings.simplefilter("ignore", FutureWarning)
spark_pandas = None
if sys.argv[1] == "spark":
    spark_pandas = _import_spark_pandas()
print(json.dumps({"caught": caught, "loaded": loaded, "blocked": blocked, "later": spark_pandas}))
"""
)


def _probe(arg: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, arg], capture_output=True, text=True, check=True
    )
    doc: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


def test_pandera_validates_without_importing_pyspark() -> None:
    doc = _probe("plain")
    assert doc["caught"] == [-1]
    assert doc["loaded"] == []
    assert doc["blocked"] is False  # the block is lifted once pandera is in


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="needs pyspark")
def test_pyspark_pandas_imports_afterwards_as_it_would_have() -> None:
    alone = SPARK_PANDAS + "import warnings; warnings.simplefilter('ignore')\n"
    alone += "print(_import_spark_pandas())"
    out = subprocess.run([sys.executable, "-c", alone], capture_output=True, text=True, check=True)
    assert _probe("spark")["later"] == out.stdout.strip().splitlines()[-1]
