"""The seeded hypothesis search behind behaviour gates: collect examples, shrink one.

Seeded, with no example database and no constants from the user's modules, so the same
config finds the same examples under `pytest --mlops-gates` and `mlops-gates check`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from mlops_gates.errors import DataError

__all__ = ["NO_EXAMPLES", "SHRINK_CALLS", "Violation", "collect", "shrink"]

NO_EXAMPLES = (
    "no usable example rows: every candidate row was rejected (a value that cannot be "
    "raised by `delta` inside the schema's range, a missing value, or a column with a "
    "single value to replace it by); check the column, `delta` and `values`"
)

# Model calls a counterexample may be shrunk with (each runs the model on one row, about
# 20 ms for Adult's gradient boosting). A count, not a time, keeps the result reproducible.
SHRINK_CALLS = 300


class Violation(Exception):
    """Raised inside the search when an example breaks the property."""


def collect(strategy: Any, *, seed: int, max_examples: int) -> list[Any]:
    """Up to `max_examples` examples as hypothesis generates them for `seed`."""
    from hypothesis import Phase

    found: list[Any] = []
    _run(strategy, found.append, seed=seed, max_examples=max_examples, phases=[Phase.generate])
    return found


def shrink(
    strategy: Any,
    breaks: Callable[[Any], Any],
    *,
    seed: int,
    max_examples: int,
    budget: int = SHRINK_CALLS,
) -> tuple[Any, bool] | None:
    """The smallest example hypothesis finds for which `breaks` returns a record (it
    returns None when the property holds), and whether shrinking ran to the end; None
    when the search finds no such example.

    Every shrink step runs the model on one row, so shrinking is capped at `budget`
    model calls: after that, examples not seen before count as passing, which ends the
    search with the smallest violation found so far. Seen examples keep their outcome,
    so hypothesis's final replay of that violation agrees with the search."""
    from hypothesis import Phase

    records: list[Any] = []
    seen: dict[str, Any] = {}
    cut = [False]

    def test(example: Any) -> None:
        key = repr(example)
        if key not in seen:
            if records and len(seen) >= budget:
                cut[0] = True
                return
            try:
                seen[key] = breaks(example)
            except Exception:
                # A row the model cannot score is not a smaller violation of this
                # property; the batch pass already reported a model that fails outright.
                seen[key] = None
        if seen[key] is not None:
            records.append(seen[key])
            raise Violation

    try:
        phases = [Phase.generate, Phase.shrink]
        _run(strategy, test, seed=seed, max_examples=max_examples, phases=phases)
    except Violation:
        # Hypothesis replays the shrunk example last, so its record is the last one.
        return (records[-1], not cut[0]) if records else None
    return None


def _run(
    strategy: Any, body: Callable[[Any], None], *, seed: int, max_examples: int, phases: list[Any]
) -> None:
    from hypothesis import HealthCheck, Verbosity, given, settings
    from hypothesis import seed as hseed
    from hypothesis.errors import Unsatisfiable

    @hseed(seed)
    @settings(
        max_examples=max_examples,
        phases=phases,
        database=None,  # reproducible: no examples remembered from earlier runs
        derandomize=False,
        deadline=None,
        print_blob=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def search(example: Any) -> None:
        body(example)

    try:
        with _without_local_constants(), _older_objects_out_of_the_collectors_sight():
            search()
    except Unsatisfiable:
        raise DataError(NO_EXAMPLES) from None


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis mixes in constants found in the source of local (not installed) modules
    that happen to be imported, and caches them under ./.hypothesis. The examples would
    then change with the user's code, and differ between `pytest --mlops-gates` and
    `mlops-gates check`. Hypothesis has no setting for it, so the lookup is swapped for
    an empty set while a gate searches (and its cache cleared on both sides, so neither
    the gate nor the user's own hypothesis tests see the other's constants)."""
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        original = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE
    except (ImportError, AttributeError):  # a hypothesis without the feature
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.cache.clear()


@contextlib.contextmanager
def _older_objects_out_of_the_collectors_sight() -> Iterator[None]:
    """The first search in a process registers hypothesis's own random generator with
    `register_random`, which runs a full `gc.collect()` to see whether the generator is
    referenced: in a cold run, with pandas, scikit-learn and the rest loaded, that walks
    ~200k objects (0.12 s of a 2.5 s `mlops-gates check`). What is alive before the search
    is frozen while it runs, so that collection walks only what the search makes; unfreezing
    gives every object back to the collector (garbage included, collected at a later pass).
    The generator and what refers to it are made by the search, so hypothesis's check sees
    them as before. Nothing else changes: the collector decides no example. A host that froze
    objects of its own (a server before it forks) is left as it is."""
    import gc

    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        with warnings.catch_warnings():
            # Should a hypothesis keep the generator's referrer from before the freeze,
            # its check could no longer see it and would warn about a generator that is
            # in fact referenced: that warning is about this freeze, not the user's code.
            warnings.filterwarnings("ignore", message=r"It looks like `register_random`")
            yield
    finally:
        gc.unfreeze()
