"""`skew` gate: the training and the serving pipeline produce the same features.

Two tables of features for the same entities are joined on a key; per feature, the share
of joined rows whose values disagree (numbers within a tolerance, everything else exactly)
is judged against `max`. Keys found on one side only and duplicate keys are reported,
because a join that silently loses or multiplies rows would hide the skew it measures.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates._values import plain
from mlops_gates.config import Config, SkewGate
from mlops_gates.errors import DataError, MlopsGatesError
from mlops_gates.gates.base import Run, register
from mlops_gates.gates.common import error_result
from mlops_gates.gates.judge import Finding, Judge, result_id
from mlops_gates.gates.result import Bound, GateResult, fmt, slice_label
from mlops_gates.sources.data import read_table, require_columns
from mlops_gates.stats.intervals import wilson_interval
from mlops_gates.stats.skew import exact_mismatch, largest_difference, numeric_mismatch

__all__ = ["evaluate", "evaluate_skew"]

UNMATCHED = {"keys": "unmatched"}


@dataclass
class _Side:
    name: str  # "training" or "serving"
    path: Path
    frame: pd.DataFrame  # one row per key, rows with a missing key removed
    rows: int  # as read
    missing_key_rows: int
    duplicate_keys: int  # keys that occurred more than once (before on_duplicate_keys)


@dataclass
class _Join:
    training: np.ndarray  # row positions in the training frame of the joined keys
    serving: np.ndarray  # and in the serving frame, aligned
    training_only: int
    serving_only: int

    @property
    def joined(self) -> int:
        return len(self.training)


# Skew compares two other tables; the evaluation data play no part.
@register("skew")
def evaluate(gate: SkewGate, run: Run) -> list[GateResult]:
    """The gate on its own training and serving files."""
    return evaluate_skew(gate, run.config)


def evaluate_skew(gate: SkewGate, config: Config) -> list[GateResult]:
    """Join training and serving rows on the key and judge each feature's mismatch rate."""
    gid = gate.id
    keys = gate.keys
    train = _side("training", config.resolve(gate.training), gate, gid)
    serve = _side("serving", config.resolve(gate.serving), gate, gid)
    _check_key_types(train, serve, keys)
    join = _join(train, serve, keys)
    key_info = _key_details(train, serve, join)

    items: list[Finding | GateResult] = []
    if gate.max_unmatched is not None:
        union = join.joined + join.training_only + join.serving_only
        items.append(
            Finding(
                slc=dict(UNMATCHED),
                observed=key_info["unmatched_share"] if union else float("nan"),
                bound=Bound(max=gate.max_unmatched),
                support=union,
                min_support=gate.min_support,
                ci=_wilson(join.training_only + join.serving_only, union, config),
                details={"keys": key_info},
            )
        )
    for name in _feature_names(gate, train, serve):
        slc = {"feature": name}
        try:
            items.append(_finding(gate, config, name, train, serve, join, key_info))
        except MlopsGatesError as exc:
            res = error_result(
                gid, "skew", gate.severity, f"{gid} on {slice_label(slc)}: {exc}", metric="mismatch"
            )
            items.append(replace(res, id=result_id(gid, slc), slice=slc))

    judged: list[GateResult] = []
    for f in items:
        if not isinstance(f, Finding):
            judged.append(f)
            continue
        unmatched = f.slc == UNMATCHED
        judge = Judge.of(
            gate,
            confidence=config.statistics.confidence,
            metric="unmatched" if unmatched else "mismatch",
            what="share of keys on one side only" if unmatched else "skew mismatch rate",
            undefined_why="no keys on either side" if unmatched else "no joined rows",
        )
        (verdict,) = judge.findings([f], method="wilson")
        judged.append(_with_examples(verdict))
    return judged


def _side(name: str, path: Path, gate: SkewGate, gid: str) -> _Side:
    if not path.exists():
        raise DataError(f"{path}: {name} features not found; check `{name}:` of gate {gid!r}")
    frame = read_table(path)
    keys = gate.keys
    require_columns(frame, keys, where=f"`key` of gate {gid!r}", path=path)
    rows = len(frame)
    missing = frame[keys].isna().any(axis=1).to_numpy()
    frame = frame.loc[~missing]
    dup = frame.duplicated(keys, keep=False).to_numpy()
    n_dup = int(frame.loc[dup].drop_duplicates(keys).shape[0]) if dup.any() else 0
    if n_dup:
        if gate.on_duplicate_keys == "error":
            first = frame.loc[dup].iloc[0]
            example = ", ".join(f"{k}={_show(first[k])}" for k in keys)
            times = int((frame[keys] == first[keys]).all(axis=1).sum())
            plural = len(keys) > 1
            raise DataError(
                f"{path}: key column{'s' if plural else ''} {', '.join(map(repr, keys))} "
                f"{'are' if plural else 'is'} not unique in the {name} features: {n_dup} "
                f"key{'s' if n_dup > 1 else ''} "
                f"occur more than once, e.g. {example} ({times} rows). Deduplicate the "
                f"file, add columns to `key`, or set `on_duplicate_keys: first` or `drop`"
            )
        if gate.on_duplicate_keys == "first":
            frame = frame.drop_duplicates(keys, keep="first")
        else:
            frame = frame.loc[~dup]
    return _Side(name, path, frame.reset_index(drop=True), rows, int(missing.sum()), n_dup)


def _check_key_types(train: _Side, serve: _Side, keys: list[str]) -> None:
    for k in keys:
        a, b = train.frame[k], serve.frame[k]
        if pd.api.types.is_numeric_dtype(a) != pd.api.types.is_numeric_dtype(b):
            raise DataError(
                f"key column {k!r} is {a.dtype} in {train.path.name} and {b.dtype} in "
                f"{serve.path.name}, so no key can match; write both with the same type"
            )


def _index(frame: pd.DataFrame, keys: list[str]) -> pd.Index:
    if len(keys) == 1:
        single: pd.Index = pd.Index(frame[keys[0]])
        return single
    multi: pd.Index = pd.MultiIndex.from_frame(frame[keys])
    return multi


def _join(train: _Side, serve: _Side, keys: list[str]) -> _Join:
    pos = _index(serve.frame, keys).get_indexer(_index(train.frame, keys))
    hit = np.flatnonzero(pos >= 0)
    return _Join(
        training=hit,
        serving=pos[hit],
        training_only=len(train.frame) - len(hit),
        serving_only=len(serve.frame) - len(hit),
    )


def _key_details(train: _Side, serve: _Side, join: _Join) -> dict[str, Any]:
    union = join.joined + join.training_only + join.serving_only
    return {
        "rows": {"training": train.rows, "serving": serve.rows},
        "joined": join.joined,
        "training_only": join.training_only,
        "serving_only": join.serving_only,
        "unmatched_share": (join.training_only + join.serving_only) / union if union else None,
        "missing_key_rows": {"training": train.missing_key_rows, "serving": serve.missing_key_rows},
        "duplicate_keys": {"training": train.duplicate_keys, "serving": serve.duplicate_keys},
    }


def _feature_names(gate: SkewGate, train: _Side, serve: _Side) -> list[str]:
    if gate.features is not None:
        return list(dict.fromkeys(gate.features))
    common = [c for c in train.frame.columns if c in serve.frame.columns and c not in gate.keys]
    unknown = [c for c in [*gate.exclude, *gate.tolerances] if c not in common]
    if unknown:
        raise DataError(
            f"`exclude` / `tolerances` name columns that are not on both sides: "
            f"{', '.join(map(repr, unknown))}{_did_you_mean(unknown[0], common)}; "
            f"the features both sides have: {', '.join(map(str, common[:40]))}"
        )
    names = [c for c in common if c not in gate.exclude]
    if not names:
        raise DataError(
            f"{train.path.name} and {serve.path.name} have no column in common besides the "
            f"key; list the features to compare under `features:`"
        )
    return names


def _finding(
    gate: SkewGate,
    config: Config,
    name: str,
    train: _Side,
    serve: _Side,
    join: _Join,
    key_info: dict[str, Any],
) -> Finding:
    for side in (train, serve):
        if name not in side.frame.columns:
            others = [c for c in side.frame.columns if c not in gate.keys]
            raise DataError(
                f"{side.path}: column {name!r} is not in the {side.name} features"
                f"{_did_you_mean(name, others)}"
            )
    a = train.frame[name].iloc[join.training].reset_index(drop=True)
    b = serve.frame[name].iloc[join.serving].reset_index(drop=True)
    numeric = _is_number(a) and _is_number(b)
    details: dict[str, Any] = {
        "type": "numeric" if numeric else "exact",
        "dtypes": {"training": str(a.dtype), "serving": str(b.dtype)},
    }
    if numeric:
        tol = gate.tolerances.get(name)
        atol, rtol = (tol.atol, tol.rtol) if tol else (gate.atol, gate.rtol)
        fa, fb = _floats(a), _floats(b)
        bad = numeric_mismatch(fa, fb, atol=atol, rtol=rtol)
        details["tolerance"] = {"atol": atol, "rtol": rtol}
        details["largest_difference"] = largest_difference(fa, fb) if len(fa) else None
    else:
        if _is_number(a) != _is_number(b):
            details["note"] = "the two sides store this feature with different types"
        bad = exact_mismatch(
            a.to_numpy(dtype=object),
            b.to_numpy(dtype=object),
            training_missing=a.isna().to_numpy(),
            serving_missing=b.isna().to_numpy(),
        )
    k, n = int(bad.sum()), len(bad)
    shown = np.flatnonzero(bad)[: gate.show_keys]
    details["mismatches"] = k
    details["missing_one_side"] = int((a.isna() != b.isna()).sum())
    details["examples"] = [
        {
            "key": {c: plain(train.frame[c].iloc[join.training[i]]) for c in gate.keys},
            "training": plain(a.iloc[i]),
            "serving": plain(b.iloc[i]),
        }
        for i in shown
    ]
    details["keys"] = key_info
    return Finding(
        slc={"feature": name},
        observed=k / n if n else float("nan"),
        bound=Bound(max=gate.max),
        support=n,
        min_support=gate.min_support,
        ci=_wilson(k, n, config),
        details=details,
    )


def _with_examples(v: GateResult) -> GateResult:
    """Add the keys behind the number to the sentence, so a reader can look them up."""
    examples = v.details.get("examples") or []
    keys = v.details.get("keys") or {}
    extra = []
    if examples:
        shown = "; ".join(
            f"{_key_text(e['key'])}: training {_show(e['training'])}, serving {_show(e['serving'])}"
            for e in examples[:3]
        )
        extra.append(f"e.g. {shown}")
    if v.slice == UNMATCHED:
        extra.append(
            f"{keys.get('training_only')} keys only in training, "
            f"{keys.get('serving_only')} only in serving, {keys.get('joined')} on both"
        )
    if not extra:
        return v
    return replace(v, message=f"{v.message}; {'; '.join(extra)}")


def _wilson(k: int, n: int, config: Config) -> tuple[float, float] | None:
    if not config.statistics.intervals or n == 0:
        return None
    ci = wilson_interval(k, n, level=config.statistics.confidence)
    return float(ci.lo), float(ci.hi)


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _floats(s: pd.Series) -> np.ndarray:
    out: np.ndarray = s.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _show(v: Any) -> str:
    v = plain(v)
    if v is None:
        return "<missing>"
    if isinstance(v, float):
        return fmt(v, 6)
    return repr(v) if isinstance(v, str) else str(v)


def _key_text(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in key.items())


def _did_you_mean(name: str, choices: list[Any]) -> str:
    hint = difflib.get_close_matches(name, [str(c) for c in choices], n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""
