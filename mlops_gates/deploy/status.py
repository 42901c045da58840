"""`mlops-gates status`: where each alias points, since when, how, and whether git agrees."""

from __future__ import annotations

from typing import Any

from mlops_gates.deploy.registry import Registry
from mlops_gates.sources.mlflow import MlflowConnection

__all__ = [
    "alias_status",
    "format_status",
    "out_of_sync",
]


def alias_status(
    conn: MlflowConnection, model: str, wanted: dict[str, str]
) -> list[dict[str, Any]]:
    """One row per alias of `model` (and per alias a manifest names, even if absent)."""
    reg = Registry(conn, model)
    aliases = reg.aliases()
    rows = []
    for alias in sorted(set(aliases) | set(wanted)):
        version = aliases.get(alias)
        history = reg.history(alias)
        last = history[-1] if history else None
        # The last recorded move explains the alias only if it left it where it is now.
        move = last if last is not None and last.version == version else None
        want = wanted.get(alias)
        row: dict[str, Any] = {
            "model": model,
            "alias": alias,
            "version": version,
            "since": move.at if move else None,
            "how": move.action if move else ("moved outside mlops-gates" if version else None),
            "pr": move.pr if move else None,
            "sha": move.sha if move else None,
            "reason": move.reason if move else None,
            "previous": move.previous if move else None,
            "manifest_version": want,
            "in_sync": None if want is None else want == version,
        }
        rows.append(row)
    return rows


def out_of_sync(rows: list[dict[str, Any]], manifests: dict[tuple[str, str], str]) -> list[str]:
    """One line per alias whose manifest names another version than the registry holds.

    `manifests` maps (model, alias) to the manifest path, so the line can name the command
    that settles it: deploy what git says, or revert git to what is live.
    """
    lines = []
    for r in rows:
        if r["in_sync"] is not False:
            continue
        path = manifests.get((r["model"], r["alias"]))
        deploy = f"mlops-gates deploy --manifest {path}" if path else "mlops-gates deploy"
        live = f"version {r['version']}" if r["version"] else "no version"
        fix = f"run `{deploy}` to deploy the manifest"
        if r["version"]:
            fix += f", or revert the manifest in git to version {r['version']}"
        lines.append(
            f"{r['model']}: out of sync: the manifest{f' {path}' if path else ''} says "
            f"version {r['manifest_version']}, alias '{r['alias']}' points to {live}; {fix}"
        )
    return lines


def format_status(rows: list[dict[str, Any]]) -> str:
    """The rows of `alias_status` as a plain-text table for the terminal."""
    if not rows:
        return "no aliases"
    header = ("model", "alias", "version", "since", "how", "pr", "sha", "manifest")
    table = [header]
    for r in rows:
        manifest = "-"
        if r["manifest_version"] is not None:
            manifest = r["manifest_version"] + (
                "" if r["in_sync"] else " (differs: deploy pending, failed or rolled back)"
            )
        table.append(
            (
                r["model"],
                r["alias"],
                r["version"] or "(none)",
                r["since"] or "-",
                r["how"] or "-",
                f"#{r['pr']}" if r["pr"] else "-",
                (r["sha"] or "-")[:12],
                manifest,
            )
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)
