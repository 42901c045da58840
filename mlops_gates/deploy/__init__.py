"""Deploying a promoted model: move a registry alias to the manifest's version (`deploy`),
roll back, and say where each alias points (`status`), over the MLflow registry (`registry`);
each move optionally recorded as a GitHub deployment (`deployments`).

The command line is `mlops_gates.cli.deploy`.
"""
