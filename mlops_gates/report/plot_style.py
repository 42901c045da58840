"""What every picture of a report shares (report/plots.py, report/plots_detail.py): colours by
verdict status and by model, and how text from the data is shortened for a label or a file
name."""

from __future__ import annotations

import re
from typing import Any

from mlops_gates._text import clean

__all__ = ["LABEL_CHARS", "MODEL_COLOURS", "STATUS_COLOURS", "file_part", "short", "slice_label"]

LABEL_CHARS = 40  # longest label drawn; longer ones end in "…"
STATUS_COLOURS = {
    "pass": "#2b7bba",
    "fail": "#c0392b",
    "error": "#c0392b",
    "warn": "#d68910",
    "skip": "#7f8c8d",
}
MODEL_COLOURS = {"candidate": "#2b7bba", "baseline": "#7f8c8d"}


def short(text: str) -> str:
    """`text` cleaned of control characters and cut to `LABEL_CHARS`."""
    text = clean(text, 200)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def slice_label(s: dict[str, Any] | None) -> str:
    """A slice as a short label: `sex=Female, race=Other`, or `overall`."""
    if not s:
        return "overall"
    return short(", ".join(f"{k}={'<missing>' if v is None else v}" for k, v in s.items()))


def file_part(text: str) -> str:
    """`text` as part of a file name: letters, digits, `.`, `_` and `-` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "gate"
