"""`python -m mlops_gates.cli` runs the command line, as the `mlops-gates` script does."""

from mlops_gates.cli.main import main

raise SystemExit(main())
