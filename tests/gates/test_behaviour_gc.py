"""The behaviour gates' search and the garbage collector: hypothesis's first search in a
process runs a full `gc.collect()` (its `register_random` check); objects alive before
the search are kept out of that collection's sight and handed back after, so it walks only
what the search makes. Each case runs in a fresh interpreter: that first search, like the
collector's state, is once per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SEARCH = """
import gc
import warnings
import weakref

warnings.simplefilter("error")  # a warning from the search would fail the script
from hypothesis import strategies as st
from mlops_gates.gates.behaviour.strategies import collect

class Cycle:
    pass

{before}
gc.disable()  # only explicit collections from here on
older = Cycle()
older.me = older  # garbage from before the search: only a full collection frees it
ref = weakref.ref(older)
del older
examples = collect(st.integers(0, 10), seed=1, max_examples=5)
print("older garbage alive after the search:", ref() is not None)
print("frozen after the search:", gc.get_freeze_count())
gc.collect()
print("older garbage alive after a collection:", ref() is not None)
print("examples:", examples)
"""


def _run(before: str = "") -> list[str]:
    script = _SEARCH.format(before=textwrap.dedent(before))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_first_search_s_collection_walks_only_what_the_search_makes() -> None:
    """Without the freeze, hypothesis's collection frees the older cycle mid-search; with it,
    the cycle survives the search, nothing stays frozen, and the next collection frees it."""
    out = _run()
    assert out[:3] == [
        "older garbage alive after the search: True",
        "frozen after the search: 0",
        "older garbage alive after a collection: False",
    ]


def test_the_examples_do_not_depend_on_the_freeze() -> None:
    """A host that froze objects of its own keeps them frozen (the search then runs without
    the freeze, and its collection frees the older cycle); the examples are the same."""
    plain = _run()
    host = _run(
        """
        gc.freeze()
        frozen = gc.get_freeze_count()
        """
    )
    assert host[0] == "older garbage alive after the search: False"
    assert int(host[1].rpartition(":")[2]) > 0  # the host's own objects, still frozen
    assert host[3] == plain[3]
