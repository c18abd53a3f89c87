"""A griffe extension for the API reference: the docstrings' reST spellings, as Markdown.

The library's docstrings are written for reading in an editor and in ``help()``: Sphinx roles
(``:class:`~durable_jobs.JobsClient```) and literal blocks introduced by ``::``. mkdocstrings
renders Markdown, where those would show as they are typed. This turns a role into a code span
(the last dotted part with ``~``, as Sphinx shows it), a ``::`` block into a fenced Python block,
and drops the pointers to the SPEC and to issues that are meant for this project's developers.
It changes only what the site shows, never the docstrings in the code.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from griffe import Extension, Object

_INTERNAL_REFERENCE = re.compile(r"\s*\((?:SPEC|issue) [^()]*\)")
"""``(SPEC §5.1)``, ``(issue 7, point 3)``: pointers for this project's developers, not for readers."""

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _fence_literal_blocks(text: str) -> str:
    """``para::`` followed by an indented block becomes ``para:`` and a fenced block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.strip().startswith(">>>"):
            stripped = line.rstrip()[:-2].rstrip()
            out.append(stripped + ":" if stripped else "")
            j = i + 1
            block: list[str] = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                out += ["", "```python", *textwrap.dedent("\n".join(block)).strip("\n").split("\n")]
                out += ["```", ""]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _fence_doctests(text: str) -> str:
    """Runs of ``>>>``/``...`` lines become a fenced ``pycon`` block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith((">>>", "...")):
                block.append(lines[i])
                i += 1
            out += ["```pycon", *textwrap.dedent("\n".join(block)).split("\n"), "```"]
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def as_markdown(text: str) -> str:
    """A docstring's text with its reST spellings in Markdown."""
    text = _INTERNAL_REFERENCE.sub("", _ROLE.sub(_role, text))
    return _fence_doctests(_fence_literal_blocks(text))


class ReSTRolesAsMarkdown(Extension):
    """Rewrites every docstring of the loaded package (see the module docstring)."""

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` and of everything it defines."""
        self._rewrite(pkg, seen=set())

    def _rewrite(self, obj: Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._rewrite(member, seen)  # type: ignore[arg-type]
