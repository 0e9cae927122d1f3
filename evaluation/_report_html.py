"""The evaluation report as plain HTML: headings, paragraphs, bulleted lists, tables and
images, with markdown's code spans and bold inside them, nothing more. Lines of one paragraph
or list item are joined first, so that a code span may run over a line break."""

from __future__ import annotations

import html
import re

__all__ = ["markdown_html"]

_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_ITEM = re.compile(r"^\s*[-*] ")
_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:auto}"
    "td{padding:2px 8px;border:1px solid #ccc}"
    "code{background:#f3f3f3;padding:0 3px}"
)


def inline(text: str) -> str:
    """Escaped text with code spans as ``<code>`` (their inside as written) and bold as
    ``<strong>``."""
    parts = _CODE.split(text)  # odd items are the insides of code spans
    return "".join(
        f"<code>{html.escape(part)}</code>"
        if k % 2
        else _STRONG.sub(r"<strong>\1</strong>", html.escape(part))
        for k, part in enumerate(parts)
    )


class _Blocks:
    """The HTML so far, and the paragraph or list item being read."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.text: list[str] = []
        self.item = False  # the text is a list item
        self.open: str | None = None  # "table" or "ul" while one is open

    def flush(self) -> None:
        if self.text:
            body = inline(" ".join(t.strip() for t in self.text))
            self.out.append(f"<li>{body}</li>" if self.item else f"<p>{body}</p>")
        self.text, self.item = [], False

    def enter(self, container: str | None) -> None:
        """End the text being read; close or open a table or list as the next line needs."""
        self.flush()
        if self.open != container:
            if self.open:
                self.out.append(f"</{self.open}>")
            if container:
                self.out.append(f"<{container}>")
            self.open = container


def _row(line: str) -> str | None:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if all(set(c) <= {"-", ":"} for c in cells):
        return None  # the rule under the header
    return "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in cells) + "</tr>"


def markdown_html(markdown: str) -> str:
    """The report's markdown (what :mod:`evaluation._report` writes) as an HTML page."""
    b = _Blocks()
    for line in markdown.splitlines():
        if line.startswith("|"):
            b.enter("table")
            row = _row(line)
            if row:
                b.out.append(row)
        elif not line.strip():
            b.flush()
        elif line.startswith("#"):
            b.enter(None)
            level = len(line) - len(line.lstrip("#"))
            b.out.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("!["):
            b.enter(None)
            alt, src = line[2:].split("](", 1)
            b.out.append(
                f'<p><img alt="{html.escape(alt)}" src="{html.escape(src.rstrip(")"))}"></p>'
            )
        elif _ITEM.match(line):
            b.enter("ul")
            b.text, b.item = [_ITEM.sub("", line, count=1)], True
        else:
            if b.open == "table" or (b.open == "ul" and not b.text):
                b.enter(None)
            b.text.append(line)
    b.enter(None)
    return f"<!doctype html><meta charset=utf-8><style>{_STYLE}</style>\n" + "\n".join(b.out) + "\n"
