"""What a verdict's message says when the estimate and the verdict seem to disagree."""

from __future__ import annotations

from pathlib import Path

import yaml
from helpers import base_config, binary_frame
from statsmodels.stats.proportion import proportions_ztest

from mlops_gates.config import load_config
from mlops_gates.gates.runner import run_gates


def test_a_miss_that_is_not_significant_says_so(tmp_path: Path) -> None:
    """judge: significance passes an estimate just below the minimum when the data cannot
    show it is below; the message must say "not significantly below", not print the value
    next to a bound it breaks as if all were well."""
    frame = binary_frame(n=200)
    accuracy = float((frame["y"] == frame["pred_c"]).mean())
    bound = round(accuracy + 0.01, 4)
    # The one-sided test of "accuracy < bound" does not reject at 5 %: an outside check.
    correct = int((frame["y"] == frame["pred_c"]).sum())
    p = proportions_ztest(correct, len(frame), value=bound, alternative="smaller")[1]
    assert p > 0.05
    gate = {"id": "acc", "kind": "metric", "metric": "accuracy", "min": bound}
    cfg = base_config(gates=[{**gate, "judge": "significance"}])
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(cfg))
    (tmp_path / "eval.csv").write_text(frame.to_csv(index=False))
    (verdict,) = run_gates(load_config(path)).gates
    assert verdict.status == "pass"
    assert f"not significantly below the minimum {bound}" in verdict.message
    assert "adjusted p = " in verdict.message
