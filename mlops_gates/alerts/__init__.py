"""Monitoring alerts: one GitHub issue per monitor kept in step with its reports (`alert`),
and the issue and workflow-dispatch calls on GitHub it makes (`issues`).

The command line is `mlops_gates.cli.alerts`.
"""
