"""Text that came from data, files or the environment, made safe to show.

Slice values, column names, messages that quote them and file excerpts reach a terminal,
Markdown (report.md, the job summary, PR bodies and comments, issues) and GitHub's log.
Raw control characters there can rewrite the terminal (ESC sequences), reorder what a
reviewer reads (the bidi overrides U+202A-U+202E, U+2066-U+2069) or, at the start of a
stdout line, run a GitHub workflow command (`::error ...`). Every renderer passes such text
through `clean` (one line) or `clean_block` (a whole document) first; both show each
character they remove as a visible escape (`\\x1b`, `\\u202e`), so nothing is lost silently.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "EXCERPT_LIMIT",
    "clean",
    "clean_block",
    "defuse",
    "excerpt",
    "safe_line",
    "terminal_safe",
]


# C0 controls, DEL, C1 controls; bidi embeddings, overrides and isolates; the Unicode line
# and paragraph separators (line breaks to some renderers); the byte order mark.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff"
_UNSAFE_LINE = re.compile(f"[{_UNSAFE}]")
# In a document, line breaks (\n) and tabs are layout: kept (\r is dropped before).
_UNSAFE_BLOCK = re.compile(f"[{_UNSAFE}]".replace("\x00-\x1f", "\x00-\x08\x0b-\x1f"))
_COMMAND_LINE = re.compile(r"^([ \t]*::)", re.MULTILINE)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
EXCERPT_LIMIT = 80


def _visible(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int | None = None) -> str:
    """One line of text safe for any report: control characters, terminal escapes, bidi
    controls and line breaks shown as escapes (`\\x1b`, `\\u202e`, `\\n`), then cut to
    `limit` characters with an ellipsis."""
    text = _UNSAFE_LINE.sub(_visible, "" if value is None else str(value))
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def excerpt(value: object, limit: int = EXCERPT_LIMIT) -> str:
    """A short, cleaned quote of file content for an error message (at most `limit`
    characters): enough to recognise the file, never enough to leak it."""
    return clean(value, limit)


def clean_block(text: str) -> str:
    """A multi-line document (Markdown) made safe: line breaks and tabs stay; every other
    control, terminal escape and bidi control is shown as an escape; a line that would start
    with `::` (a GitHub workflow command, if it ever reached stdout) is prefixed with a
    backslash, which Markdown does not show."""
    text = text.replace("\r\n", "\n")
    out = _UNSAFE_BLOCK.sub(_visible, text)
    return _COMMAND_LINE.sub(r"\\\1", out)


def terminal_safe(value: object) -> str:
    """`value` as text a terminal and a CI log show as written.

    Control characters (line breaks and ESC included), invisible format characters (bidi
    overrides such as U+202E, zero-width characters) and line/paragraph separators become
    visible escapes (`\\n`, `\\x1b`, `\\u202e`), so a value from the data can neither start
    a new line, move the cursor, recolour the terminal nor reorder what is shown.
    """
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            code = ord(ch)
            out.append(
                {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
                or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
                if code <= 0xFFFF
                else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    return "".join(out)


def defuse(line: str) -> str:
    """A printed line GitHub Actions cannot read as a workflow command (`::error ...`).

    The runner executes any stdout/stderr line whose text after leading whitespace starts
    with `::`; only the annotation writer (report/github.py) may emit those.
    """
    stripped = line.lstrip()
    if stripped.startswith("::"):
        return line[: len(line) - len(stripped)] + "\\x3a" + stripped[1:]
    return line


def safe_line(line: object) -> str:
    """One line for stdout: `terminal_safe`, then `defuse`."""
    return defuse(terminal_safe(line))
