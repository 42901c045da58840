"""The garbage collector's thresholds of a short run, in one place: `mlops-gates check`'s
whole process, and the gates' run in any host (the pytest plugin, a script, a notebook).

Importing pandas, pydantic, scikit-learn and the rest, and reducing the data, allocate a
lot once. With Python's default thresholds that sets off full collections, each walking
every object loaded so far: about 0.5 s of CPU in a cold `check` (bench/coldrun.py), and
0.03-0.04 s of a 0.6 s run on a million rows called from a script (bench/README.md).
Collections this rare cost a run no memory to speak of; young objects are still collected,
every 100,000 allocations.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["GC_THRESHOLDS", "rare_collections"]

# Collect young objects every 100,000 allocations rather than every 700.
GC_THRESHOLDS = (100_000, 50, 100)


@contextlib.contextmanager
def rare_collections() -> Iterator[None]:
    """`GC_THRESHOLDS` while the block runs, then the host's own again. Never more often
    than the host asked (each threshold is the larger of the two), and never when the host
    set the first threshold to 0 (no collection)."""
    before = gc.get_threshold()
    if before[0] > 0:
        gc.set_threshold(*(max(a, b) for a, b in zip(before, GC_THRESHOLDS, strict=False)))
    try:
        yield
    finally:
        gc.set_threshold(*before)
