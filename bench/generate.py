"""Deterministic synthetic evaluation data for the benchmark.

One row is one scored example of a binary classifier, with the columns a gates config
slices by and two models' outputs::

    region   str    20 levels, skewed sizes (the largest ~7x the smallest)
    segment  str    8 levels, skewed sizes (smallest ~2 %)
    channel  str    5 levels
    group    str    sensitive attribute: A ~70 %, B ~28 %, C ~2 % (the rare group)
    y        int64  true label, 0/1, base rate depending on region, segment and group
    score_c  float  candidate score in (0, 1)
    score_b  float  baseline score in (0, 1), a weaker and correlated model
    pred_c   int64  candidate label, score_c >= 0.5
    pred_b   int64  baseline label, score_b >= 0.5

How well the models separate the classes depends on region and segment, so metrics differ
from slice to slice. The same (rows, seed) always gives the same file; it is cached as
``bench/data/synthetic-<rows>-seed<seed>.parquet``.

    python bench/generate.py --rows 1000000 [--seed 0] [--force]
    python bench/generate.py --rows 1e9 --parts     # a folder of Parquet files

``--parts`` writes the same rows (chunk for chunk the same streams, so the folder read in
file order equals the single file) as a folder of files of ``PART_CHUNKS`` chunks each,
``bench/data/synthetic-<rows>-seed<seed>.parts/part-00000.parquet`` ...: the shape a large
table has when it was written by many tasks. Memory stays at one chunk whatever the rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent / "data"
CHUNK_ROWS = 1 << 20  # rows generated and written at a time (one Parquet row group)
PART_CHUNKS = 16  # chunks per file of a partitioned dataset: ~300 MB files of 16.8M rows

REGIONS = tuple(f"R{i:02d}" for i in range(20))
SEGMENTS = tuple(f"S{i}" for i in range(8))
CHANNELS = ("web", "app", "store", "phone", "partner")
GROUPS = ("A", "B", "C")

SEGMENT_SHARE = (0.30, 0.20, 0.15, 0.10, 0.10, 0.08, 0.05, 0.02)
CHANNEL_SHARE = (0.40, 0.25, 0.20, 0.10, 0.05)
GROUP_SHARE = (0.70, 0.28, 0.02)

SCHEMA = pa.schema(
    [
        ("region", pa.string()),
        ("segment", pa.string()),
        ("channel", pa.string()),
        ("group", pa.string()),
        ("y", pa.int64()),
        ("score_c", pa.float64()),
        ("score_b", pa.float64()),
        ("pred_c", pa.int64()),
        ("pred_b", pa.int64()),
    ]
)

DICT_SCHEMA = pa.schema(
    [
        pa.field(f.name, pa.dictionary(pa.int32(), pa.string())) if f.type == pa.string() else f
        for f in SCHEMA
    ]
)


@dataclass(frozen=True)
class World:
    """Per-level effects, drawn once per seed: what makes slices differ."""

    region_share: np.ndarray
    region_base: np.ndarray  # effect on the log-odds of y = 1
    segment_base: np.ndarray
    channel_base: np.ndarray
    group_base: np.ndarray
    region_skill: np.ndarray  # effect on how well the models separate the classes
    segment_skill: np.ndarray

    @classmethod
    def draw(cls, seed: int) -> World:
        rng = np.random.default_rng([seed, 0])
        weights = 1.0 / (np.arange(len(REGIONS)) + 3.0)
        return cls(
            region_share=weights / weights.sum(),
            region_base=rng.normal(0.0, 0.4, len(REGIONS)),
            segment_base=rng.normal(0.0, 0.3, len(SEGMENTS)),
            channel_base=rng.normal(0.0, 0.2, len(CHANNELS)),
            group_base=np.array([0.0, 0.25, -0.35]),
            region_skill=rng.uniform(-0.5, 0.5, len(REGIONS)),
            segment_skill=rng.uniform(-0.3, 0.3, len(SEGMENTS)),
        )


def cache_path(rows: int, seed: int) -> Path:
    return DATA_DIR / f"synthetic-{rows}-seed{seed}.parquet"


def parts_path(rows: int, seed: int) -> Path:
    return DATA_DIR / f"synthetic-{rows}-seed{seed}.parts"


def ensure(
    rows: int,
    seed: int = 0,
    *,
    force: bool = False,
    quiet: bool = False,
    parts: bool = False,
    jobs: int = 1,
) -> Path:
    """The data file (or with `parts`, folder) for (rows, seed), generated if not cached yet."""
    path = parts_path(rows, seed) if parts else cache_path(rows, seed)
    if path.exists() and not force:
        return path
    t0 = time.perf_counter()
    if parts:
        write_parts(path, rows, seed, jobs=jobs, quiet=quiet)
    else:
        write(path, rows, seed)
    if not quiet:
        files = sorted(path.glob("*.parquet")) if parts else [path]
        size = sum(f.stat().st_size for f in files) / 1e6
        print(
            f"generated {path} ({rows:,} rows, {size:.0f} MB) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    return path


def write(path: Path, rows: int, seed: int) -> None:
    """Write `rows` rows in chunks; a partial file never takes the cached name."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    path.parent.mkdir(parents=True, exist_ok=True)
    world = World.draw(seed)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, SCHEMA, compression="snappy") as writer:
            for index, start in enumerate(range(0, rows, CHUNK_ROWS)):
                n = min(CHUNK_ROWS, rows - start)
                writer.write_table(chunk(world, seed, index, n), row_group_size=CHUNK_ROWS)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parts(path: Path, rows: int, seed: int, *, jobs: int = 1, quiet: bool = False) -> None:
    """Write `rows` rows as a folder of files; a partial folder never takes the cached name.

    Files are finished in a temporary folder next to `path`, which an interrupted run
    resumes from (a file is renamed into it only once complete); `jobs` processes write
    files side by side (each file's chunks have their own random streams, so the rows do
    not depend on `jobs`).
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    tmp = path.with_name(f".{path.name}.partial")
    tmp.mkdir(parents=True, exist_ok=True)
    per_file = PART_CHUNKS * CHUNK_ROWS
    files = (rows + per_file - 1) // per_file
    todo = [p for p in range(files) if not (tmp / f"part-{p:05d}.parquet").exists()]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = pool.map(_write_part, [(tmp, rows, seed, p) for p in todo])
        for count, part in enumerate(done, 1):
            if not quiet:
                print(
                    f"  {part.name} written, {count}/{len(todo)} "
                    f"({time.perf_counter() - t0:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    if path.exists():  # --force: the old folder goes only once the new one is complete
        for old in path.glob("*.parquet"):
            old.unlink()
        path.rmdir()
    tmp.replace(path)


def _write_part(task: tuple[Path, int, int, int]) -> Path:
    folder, rows, seed, part = task
    world = World.draw(seed)
    done = folder / f"part-{part:05d}.parquet"
    partial = folder / f".part-{part:05d}.{os.getpid()}.tmp"
    first = part * PART_CHUNKS
    last = min(first + PART_CHUNKS, (rows + CHUNK_ROWS - 1) // CHUNK_ROWS)
    try:
        # store_schema=False: the strings were handed over dictionary-encoded (cheaper to
        # write), but the file should read back as the plain strings the single file holds.
        with pq.ParquetWriter(partial, DICT_SCHEMA, compression="snappy", store_schema=False) as w:
            for index in range(first, last):
                n = min(CHUNK_ROWS, rows - index * CHUNK_ROWS)
                w.write_table(chunk(world, seed, index, n, dictionary=True), CHUNK_ROWS)
        partial.replace(done)
    finally:
        partial.unlink(missing_ok=True)
    return done


def chunk(world: World, seed: int, index: int, n: int, *, dictionary: bool = False) -> pa.Table:
    """Rows of chunk `index`: its own random stream, so chunks are independent of order."""
    rng = np.random.default_rng([seed, 1, index])
    region = _draw_codes(rng, world.region_share, n)
    segment = _draw_codes(rng, np.asarray(SEGMENT_SHARE), n)
    channel = _draw_codes(rng, np.asarray(CHANNEL_SHARE), n)
    group = _draw_codes(rng, np.asarray(GROUP_SHARE), n)

    prior = (
        -0.8
        + world.region_base[region]
        + world.segment_base[segment]
        + world.channel_base[channel]
        + world.group_base[group]
    )
    y = (rng.random(n) < _sigmoid(prior)).astype(np.int64)

    # Each model sees the prior plus a class signal of slice-dependent strength, in noise.
    # The baseline's signal is weaker and its noise partly shared with the candidate's.
    skill = np.maximum(1.1 + world.region_skill[region] + world.segment_skill[segment], 0.2)
    sign = 2.0 * y - 1.0
    noise_c = rng.standard_normal(n)
    noise_b = 0.6 * noise_c + 0.8 * rng.standard_normal(n)
    score_c = _sigmoid(prior + skill * sign + noise_c)
    score_b = _sigmoid(0.8 * prior + 0.7 * skill * sign + 1.1 * noise_b)

    text = _dictionary if dictionary else _strings
    return pa.table(
        {
            "region": text(REGIONS, region),
            "segment": text(SEGMENTS, segment),
            "channel": text(CHANNELS, channel),
            "group": text(GROUPS, group),
            "y": y,
            "score_c": score_c,
            "score_b": score_b,
            "pred_c": (score_c >= 0.5).astype(np.int64),
            "pred_b": (score_b >= 0.5).astype(np.int64),
        },
        schema=None if dictionary else SCHEMA,
    )


def _draw_codes(rng: np.random.Generator, share: np.ndarray, n: int) -> np.ndarray:
    cumulative = np.cumsum(share / share.sum())
    codes = np.searchsorted(cumulative, rng.random(n), side="right")
    return np.minimum(codes, len(share) - 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _strings(levels: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    # Plain (not dictionary-typed) strings: what most evaluation tables hold. Parquet still
    # dictionary-encodes them on disk.
    return pa.array(levels, type=pa.string()).take(pa.array(codes.astype(np.int32)))


def _dictionary(levels: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(codes.astype(np.int32), pa.array(levels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda text: int(float(text)), required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    parser.add_argument(
        "--parts", action="store_true", help="write a folder of Parquet files (any size)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="processes writing files (--parts)")
    args = parser.parse_args(argv)
    print(ensure(args.rows, args.seed, force=args.force, parts=args.parts, jobs=args.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
