"""The promotion check on the commits `promote` never judges: ordinary pull requests and
merge-queue groups. The PR workflow runs `mlops-gates promotion-status` for them.

Required status checks apply to every pull request into the protected branch, so once
`mlops-gates/promotion` is required, a change that promotes nothing needs it too; and a
merge queue waits for required checks on its merge-group commit, which `promote` never
saw. The rules:

- no deploy manifest changed (base...head): `success`, "no model promotion";
- every changed manifest restores, byte for byte, a version the base branch held before
  (a `git revert` of a promotion: the GitOps rollback): `success`. That version was merged
  under the same protection once; the last `HISTORY` changes of each file are searched;
- another manifest change on a pull request: nothing is posted. Only promote's verdict on
  that very commit passes it (promote posts on the head it built; a push by hand makes a
  new head without one). Posting `failure` here could land after promote's `success` on
  the same commit and, the latest status winning, turn it red;
- a manifest changed in a merge group: the verdict of the queued pull request's head is
  carried over when every changed manifest is byte-identical in the group and on that
  head; otherwise `failure`. The base of a merge group is the event's `base_sha`, "the
  SHA of the merge group's parent commit" (GitHub's webhook schema): the previous group's
  head when others are queued ahead, so a group's changes are its own pull request's.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from mlops_gates.github import GitHubClient
from mlops_gates.promote.branch import read_file
from mlops_gates.promote.status import StatusVerdict, latest_status

__all__ = [
    "changed_manifests",
    "judge_change",
    "queued_pull",
]

HISTORY = 20  # earlier versions of a manifest a rollback may restore
# GitHub names a merge group's branch gh-readonly-queue/<base>/pr-<number>-<head sha>.
_QUEUE_REF = re.compile(r"gh-readonly-queue/.+/pr-(\d+)-[0-9a-f]{7,40}$")


def queued_pull(head_ref: str) -> int | None:
    """The pull request a merge group's head ref was made for."""
    m = _QUEUE_REF.search(head_ref)
    return int(m.group(1)) if m else None


def changed_manifests(client: GitHubClient, base: str, head: str, manifest_dir: str) -> list[str]:
    """Deploy manifests (`<manifest_dir>/*.yaml`) that `head` changes since its merge base
    with `base`, removed ones included."""
    url = f"{client.base_url}/repos/{client.repository}/compare/{base}...{head}"
    _, data = client.request("GET", url, action=f"comparing {base[:10]}...{head[:10]}")
    prefix = manifest_dir.strip("/") + "/"
    names = [str(f.get("filename", "")) for f in (data or {}).get("files") or []]
    return [n for n in names if n.startswith(prefix) and n.endswith((".yaml", ".yml"))]


def judge_change(
    client: GitHubClient,
    *,
    sha: str,
    base: str,
    context: str,
    manifest_dir: str = "deploy",
    queued: int | None = None,
) -> tuple[StatusVerdict | None, str]:
    """The verdict to set on `sha` (None: leave it to promote) and a line saying why.
    `queued`: the pull request whose merge group `sha` is (None for a pull request's head)."""
    manifests = changed_manifests(client, base, sha, manifest_dir)
    if not manifests:
        verdict = StatusVerdict("success", f"no model promotion: {manifest_dir}/ unchanged")
        return verdict, verdict.description
    named = ", ".join(manifests)
    restored = _restored(client, base, sha, manifests)
    if restored:
        verdict = StatusVerdict("success", f"rollback: restores {restored}")
        return verdict, verdict.description
    if queued is None:
        return None, (
            f"{named} changed: only mlops-gates promote's verdict on this commit passes "
            f"{context}; nothing set"
        )
    pull = _get_pull(client, queued)
    head = str(pull["head"]["sha"])
    st = latest_status(client, head, context)
    if st is None or st.get("state") != "success":
        state = "none" if st is None else st.get("state")
        verdict = StatusVerdict(
            "failure", f"#{queued} changes {named}; its head {head[:7]} has {context}: {state}"
        )
        return verdict, verdict.description
    for path in manifests:
        here, there = read_file(client, path, sha), read_file(client, path, head)
        if (here and here.text) != (there and there.text):
            verdict = StatusVerdict(
                "failure", f"{path} in the merge group differs from #{queued}'s judged head"
            )
            return verdict, verdict.description
    verdict = StatusVerdict("success", f"from #{queued}: {st.get('description') or ''}")
    return verdict, verdict.description


def _restored(client: GitHubClient, base: str, sha: str, manifests: list[str]) -> str | None:
    """When every manifest in `manifests` at `sha` is a version the base branch held
    before: which (`path as of <commit>`, joined); else None."""
    found = []
    for path in manifests:
        now = read_file(client, path, sha)
        if now is None:
            return None  # a removed manifest deploys nothing: not a rollback
        url = (
            f"{client.base_url}/repos/{client.repository}/commits"
            f"?sha={quote(base, safe='')}&path={quote(path, safe='')}&per_page={HISTORY}"
        )
        _, commits = client.request("GET", url, action=f"reading the history of {path}")
        match = None
        for c in (commits or [])[:HISTORY]:
            then = read_file(client, path, str(c["sha"]))
            if then is not None and then.text == now.text:
                match = str(c["sha"])
                break
        if match is None:
            return None
        found.append(f"{path} as of {match[:7]}")
    return ", ".join(found)


def _get_pull(client: GitHubClient, number: int) -> dict[str, Any]:
    url = f"{client.base_url}/repos/{client.repository}/pulls/{number}"
    _, data = client.request("GET", url, action=f"reading pull request #{number}")
    return dict(data)
