"""The command line's conventions, shared by the commands of every package.

- ``--json`` (:data:`JSON`): a read command prints one JSON document on stdout, and nothing
  else goes there; its messages and progress go to stderr as always (:func:`print_json`).
- ``-`` in place of a file a command reads or writes is stdin or stdout (:func:`is_stdio`,
  :func:`read_text`, :func:`binary_out`, :func:`text_out`).
- A flag shows no type in help: typer 0.29 prints ``<bool>`` beside every flag, ``--help``
  included; :func:`hide_flag_types` (called once by ``caselink_cli``) stops that for all.

Light on purpose: ``caselink --help`` imports it, and no package's code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

import typer
from typer.core import TyperOption

from caselink_errors import CaselinkError

__all__ = [
    "JSON",
    "STDIO",
    "binary_out",
    "hide_flag_types",
    "is_stdio",
    "print_json",
    "read_text",
    "text_out",
]

STDIO = "-"
JSON = typer.Option(
    False, "--json", help="Print the result as JSON on stdout (and nothing else there)."
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def print_json(data: Any) -> None:
    """``data`` as one indented JSON document on stdout (dataclasses, datetimes and paths
    as JSON would hold them)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_plain))


def is_stdio(path: Path | str | None) -> bool:
    """Whether ``path`` is ``-``: stdin where a command reads, stdout where it writes."""
    return path is not None and str(path) == STDIO


def read_text(path: Path, option: str) -> str:
    """The UTF-8 text of ``path`` (stdin for ``-``); a plain error naming ``option`` if it
    cannot be read or is not UTF-8."""
    try:
        data = sys.stdin.buffer.read() if is_stdio(path) else path.read_bytes()
    except OSError as e:
        raise CaselinkError(f"{option}: cannot read {path} ({e.strerror})") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        where = "stdin" if is_stdio(path) else str(path)
        raise CaselinkError(
            f"{option}: {where} is not UTF-8 text (byte {e.start:,}); save it as UTF-8"
        ) from None


@contextlib.contextmanager
def binary_out(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened to write bytes, or stdout for ``-`` (left open)."""
    if is_stdio(path):
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with path.open("wb") as f:
        yield f


@contextlib.contextmanager
def text_out(path: Path) -> Iterator[IO[str]]:
    """``path`` opened to write UTF-8 text (for the csv module), or stdout for ``-``."""
    if is_stdio(path):
        yield sys.stdout
        sys.stdout.flush()
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        yield f


def _shown_type(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None  # a flag takes no value: there is no type to show
    return _typer_shown_type(self, ctx)


_typer_shown_type = TyperOption.display_type_rich


def hide_flag_types() -> None:
    """Show no type beside a flag in every command's help (idempotent)."""
    TyperOption.display_type_rich = _shown_type  # type: ignore[method-assign]
