"""Parquet sources at scale: one file, a folder (hive partitions) or a glob."""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path

from mlops_gates.errors import DataError
from mlops_gates.sources.data import file_digest

__all__ = ["files_digest", "parquet_files", "scan_pattern"]


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files `path` names, sorted; a `DataError` if there are none."""
    text = str(path)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        where = f"the glob {text!r}"
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and _is_parquet(p))
        where = f"the folder {text}"
    elif path.is_file():
        return [path]
    else:
        raise DataError(f"{path}: data not found; check `data.path` in the config")
    if not files:
        raise DataError(f"{where} holds no Parquet files (*.parquet, *.pq); check `data.path`")
    return files


def _is_parquet(p: Path) -> bool:
    return p.name.lower().endswith((".parquet", ".pq")) and not p.name.startswith((".", "_"))


def scan_pattern(path: Path) -> str:
    """What an engine's Parquet reader is given: the file or glob, a folder as a glob."""
    if path.is_dir():
        return str(path / "**" / "*.parquet")
    return str(path)


def files_digest(files: list[Path]) -> str:
    """One digest for a set of files: each file's sha256, hashed in name order."""
    if len(files) == 1:
        return file_digest(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}\0{file_digest(f)}\n".encode())
    return "sha256:" + h.hexdigest()
