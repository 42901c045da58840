"""mlops-gates: CI gates for machine-learning models.

Importing the package is cheap: the heavy parts (pandas, numpy, pandera, scikit-learn)
load only when one of the names below is first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mlops_gates._version import __version__

if TYPE_CHECKING:
    from mlops_gates.config import Config, load_config
    from mlops_gates.gates.result import GateResult, Report
    from mlops_gates.gates.runner import run_gates

__all__ = [
    "Config",
    "GateResult",
    "Report",
    "__version__",
    "load_config",
    "run_gates",
]

_LAZY = {
    "Config": "mlops_gates.config",
    "load_config": "mlops_gates.config",
    "GateResult": "mlops_gates.gates.result",
    "Report": "mlops_gates.gates.result",
    "run_gates": "mlops_gates.gates.runner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlops_gates' has no attribute {name!r}")
    return getattr(import_module(module), name)
