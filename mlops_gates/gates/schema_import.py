"""Import pandera without `pyspark.pandas`.

`import pandera` (any part of it) imports `pyspark.pandas` whenever PySpark is installed (the
`[spark]` extra), so that PySpark patches pandas before pandera's own types are defined:
about half a second of a cold `mlops-gates check`, and PySpark's warning that it does not
support pandas 3. The gates validate pandas frames only; pandera's typing classes override
that patch themselves, and pandera imports `pyspark.pandas` again, on demand, the first time
it is asked to validate a pandas-on-Spark frame. So pandera's first import here does not
import it. pandera still sets `SPARK_LOCAL_IP` and `PYARROW_IGNORE_TIMEZONE` as it always does.
"""

from __future__ import annotations

import sys

__all__ = ["import_pandera"]

_SPARK_PANDAS = "pyspark.pandas"


def import_pandera() -> None:
    """Import `pandera.pandas` and `pandera.errors` (a no-op once pandera is imported);
    `pyspark.pandas` stays unimported unless something else imported it already."""
    if "pandera.pandas" in sys.modules:
        return
    # A None entry makes `import pyspark.pandas` raise ImportError at once (without
    # importing pyspark), which pandera catches; the entry goes again right after.
    blocked = _SPARK_PANDAS not in sys.modules
    if blocked:
        sys.modules[_SPARK_PANDAS] = None  # type: ignore[assignment]
    try:
        import pandera.errors
        import pandera.pandas  # noqa: F401
    finally:
        if blocked and sys.modules.get(_SPARK_PANDAS, False) is None:
            del sys.modules[_SPARK_PANDAS]
