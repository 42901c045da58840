"""How much slower the batched read's counting gets beside pyarrow's reading thread.

    python bench/contention.py --rows 10M [--repeat 3]

The memory engine reads a large Parquet file on one thread while it counts the batch
before on another (`backends/stream.py`); the counting is `np.add.at` into dense tables
of score pairs x bins. This times that counting, with random keys into a table of the
benchmark's size at 10M rows (1,600 score pairs x 4,096 bins, 16-bit counts, three
tallies a row), three ways: alone; beside a thread reading the benchmark file in batches
with pyarrow decoding on its own threads (`use_threads=True`); and beside the same read
decoded on the reading thread alone (`use_threads=False`). On a machine of two cores the
second competes with the counting for both cores, which is why the engine decodes on one
there (`stream._decode_in_parallel`); on more cores the first two should be close.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
from run import parse_rows  # noqa: E402

PAIRS, BINS, BATCH, TALLIES = 1600, 4096, 1 << 18, 3


def count(keys: list[np.ndarray]) -> float:
    """Seconds to count every batch's keys into one fresh table a tally, batch by batch."""
    tables = [np.zeros(2 * PAIRS * BINS, dtype=np.uint16) for _ in range(TALLIES)]
    ones = np.ones(BATCH, dtype=np.uint16)
    started = time.perf_counter()
    for batch in keys:
        for table in tables:
            np.add.at(table, batch, ones[: batch.shape[0]])
    return time.perf_counter() - started


def reading(path: Path, threads: bool, stop: threading.Event) -> None:
    """Read `path` in the engine's batches, over and over, until `stop` is set."""
    text = [f.name for f in pq.read_schema(path) if pa.types.is_string(f.type)]
    while not stop.is_set():
        with pq.ParquetFile(path, read_dictionary=text, pre_buffer=False) as file:
            for _ in file.iter_batches(batch_size=BATCH, use_threads=threads):
                if stop.is_set():
                    return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_rows, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = generate.ensure(args.rows, 0)
    rng = np.random.default_rng(0)
    keys = [
        rng.integers(0, PAIRS * BINS, min(BATCH, args.rows - lo), dtype=np.int32)
        for lo in range(0, args.rows, BATCH)
    ]
    n = args.rows * TALLIES
    print(
        f"{n:,} keys into {TALLIES} tables of {PAIRS * BINS:,} entries; pyarrow cpu_count "
        f"{pa.cpu_count()}; median of {args.repeat}"
    )
    for label, threads in (
        ("alone", None),
        ("beside pyarrow's threads", True),
        ("beside a one-thread read", False),
    ):
        times = []
        for _ in range(args.repeat):
            stop = threading.Event()
            reader = None
            if threads is not None:
                reader = threading.Thread(target=reading, args=(path, threads, stop))
                reader.start()
                time.sleep(0.2)  # the read under way before the clock
            try:
                times.append(count(keys))
            finally:
                stop.set()
                if reader is not None:
                    reader.join()
        t = statistics.median(times)
        print(
            f"{label:26s} {t:6.3f} s  {t / n * 1e9:5.1f} ns a key  "
            f"({', '.join(f'{x:.3f}' for x in sorted(times))})"
        )


if __name__ == "__main__":
    main()
