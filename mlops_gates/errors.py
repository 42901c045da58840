"""One exception tree for everything a user can get wrong.

Every error carries a message meant for a person: what is wrong, which file / field /
column, and what to do about it. The CLI and the pytest plugin print it without a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "GateError",
    "MlopsGatesError",
    "ModelError",
    "PromotionError",
    "TrackingError",
]


class MlopsGatesError(Exception):
    """Base class of every error mlops-gates raises on purpose."""


class ConfigError(MlopsGatesError):
    """The configuration file is missing, unreadable or invalid."""


class DataError(MlopsGatesError):
    """Evaluation data, labels, predictions or a schema cannot be used as configured."""


class ModelError(MlopsGatesError):
    """A model could not be loaded or could not predict."""


class GateError(MlopsGatesError):
    """A gate could not be evaluated (it is reported as `error`, never `pass`)."""


class TrackingError(MlopsGatesError):
    """MLflow could not be reached or refused a request."""


class PromotionError(MlopsGatesError):
    """A promotion pull request or a deploy could not be carried out."""
