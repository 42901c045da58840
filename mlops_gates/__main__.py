"""`python -m mlops_gates`: the same as the `mlops-gates` command."""

from __future__ import annotations

import sys

from mlops_gates.cli import main

sys.exit(main())
