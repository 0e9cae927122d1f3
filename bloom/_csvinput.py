"""A register as bytes for Arrow: its text encoding settled, its structure scanned as it goes.

:class:`RegisterStream` wraps the file (or standard input) that ``caselink encode`` reads.
Before a value is read it settles the text encoding: a byte-order mark decides (UTF-8,
UTF-16 or UTF-32, whatever ``--input-encoding`` says), a file full of NUL bytes without one
is named as UTF-16, and any encoding but UTF-8 is transcoded to UTF-8 here, a block at a
time. Every byte it hands on has passed through :class:`~bloom._csvscan.CsvScan`, so when
Arrow stops or skips rows the scan knows where. It is read once, front to back, so standard
input works like a file.
"""

from __future__ import annotations

import codecs
import csv
import io
from typing import BinaryIO

from bloom._csvscan import CsvScan, CsvShape
from bloom._i18n import gettext
from caselink_errors import EncodingError

__all__ = [
    "RegisterStream",
    "check_encoding",
    "delimiter_hint",
    "delimiter_name",
    "parse_delimiter",
]

_BOMS = (  # longest first: a UTF-32 LE mark starts like a UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SNIFF = 4096
_READ = 1 << 20
_CANDIDATES = (",", ";", "\t", "|")
_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def check_encoding(name: str | None) -> str:
    """The codec name Python knows ``--input-encoding`` by (utf-8 when not given)."""
    if name is None:
        return "utf-8"
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise EncodingError(
            [
                gettext(
                    "--input-encoding '{name}' is not a text encoding Python knows: use a name "
                    "such as utf-8, cp1252 (what Excel on Windows saves), latin-1 or utf-16"
                ).format(name=name)
            ]
        )
    return "utf-8" if info.name == "utf-8-sig" else info.name


def parse_delimiter(text: str) -> str:
    """``--delimiter``: one ASCII character other than a quote or a line break, or ``tab``."""
    value = _NAMES.get(text.lower(), text)
    if len(value) != 1 or not value.isascii() or value in '"\r\n' or value.isalnum():
        raise EncodingError(
            [gettext("--delimiter must be one character such as ',', ';' or '|', or the word tab")]
        )
    return value


def delimiter_name(delimiter: str) -> str:
    """How to write ``delimiter`` on a command line."""
    return "tab" if delimiter == "\t" else f"'{delimiter}'"


def delimiter_hint(header: list[str], delimiter: str) -> str | None:
    """The delimiter a one-column header most likely uses instead of ``delimiter``."""
    if len(header) != 1:
        return None
    counts = {c: header[0].count(c) for c in _CANDIDATES if c != delimiter}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] else None


class RegisterStream(io.RawIOBase):
    """The register's bytes as UTF-8, scanned on the way (see the module doc)."""

    def __init__(self, raw: BinaryIO, *, name: str, encoding: str, delimiter: str) -> None:
        super().__init__()
        self._raw, self.name = raw, name
        head = raw.read(_SNIFF) or b""
        self.encoding, skip = _settle(head, encoding, name)
        self.consumed = len(head)  # bytes read from the source
        self._decoder = (
            None
            if self.encoding == "utf-8"
            else codecs.getincrementaldecoder(self.encoding)("strict")
        )
        self.scan = CsvScan(ord(delimiter), check_utf8=self._decoder is None)
        self._direct = self._decoder is None and hasattr(raw, "readinto")
        self.undecodable: tuple[int, int] | None = None  # (row, line) where decoding failed
        self._ended = False
        self._pending = bytearray()
        self._take(head[skip:], final=not head)

    # -- io.RawIOBase ---------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` whole unless the input ends: Arrow takes each read as a block."""
        if not self._pending and self._direct and not self._ended:
            return self._read_through(buffer)
        while len(self._pending) < len(buffer) and not self._ended:
            self._fill(max(len(buffer) - len(self._pending), _READ))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        del self._pending[:n]
        return n

    def _read_through(self, buffer: memoryview) -> int:
        """UTF-8 read straight into Arrow's buffer, then scanned there: no copy of our own."""
        n = 0
        view = memoryview(buffer).cast("B")
        while n < len(view):
            got = self._raw.readinto(view[n:])  # type: ignore[attr-defined]  # checked in __init__
            if not got:
                self._ended = True
                break
            n += got
        self.consumed += n
        if n:
            self.scan.feed(view[:n])
        return n

    # -- reading ahead ------------------------------------------------------------------------
    def header(self) -> list[str]:
        """The header's column names (read ahead, then handed on to Arrow as well)."""
        while self.scan.header_end < 0 and not self._ended:
            self._fill(_READ)
        end = self.scan.header_end if self.scan.header_end >= 0 else len(self._pending)
        text = bytes(self._pending[:end]).decode("utf-8", "replace")
        return next(
            csv.reader(io.StringIO(text, newline=""), delimiter=chr(self.scan.delimiter)), []
        )

    def drain(self) -> CsvShape:
        """Scan what is left of the input, unread, and say its shape."""
        while not self._ended:
            self._pending.clear()
            self._fill(_READ)
        self._pending.clear()
        return self.finish()

    def finish(self) -> CsvShape:
        return self.scan.finish(stopped=self.undecodable is not None)

    def _fill(self, size: int) -> None:
        data = self._raw.read(size) or b""
        self.consumed += len(data)
        self._take(data, final=not data)

    def _take(self, data: bytes, *, final: bool) -> None:
        """Hand on (and scan) the UTF-8 of ``data``; ``final`` at the end of the source."""
        if self._decoder is not None:
            data = self._decode(data, final)
        if data:
            self.scan.feed(data)
            self._pending += data
        self._ended = self._ended or final

    def _decode(self, data: bytes, final: bool) -> bytes:
        assert self._decoder is not None
        buffered = self._decoder.getstate()[0]
        try:
            return self._decoder.decode(data, final).encode("utf-8")
        except UnicodeDecodeError as e:  # hand on what decodes, then end here
            good = (buffered + data)[: e.start].decode(self.encoding, "replace").encode("utf-8")
            self.scan.feed(good)
            self._pending += good
            self.undecodable = (self.scan.record, self.scan.line)
            self._ended = True
            return b""


def _settle(head: bytes, encoding: str, name: str) -> tuple[str, int]:
    """(the codec to read with, bytes of byte-order mark to skip) from the first bytes."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    if not encoding.startswith(("utf-16", "utf-32")) and len(head) >= 2:
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if max(odd, even) >= len(head) // 4:
            guess = "utf-16-le" if odd > even else "utf-16-be"
            raise EncodingError(
                [
                    gettext(
                        "{name} looks like UTF-16 text without a byte-order mark (every other "
                        "byte is zero), not {encoding}: pass --input-encoding {guess}"
                    ).format(name=name, encoding=encoding, guess=guess)
                ]
            )
    return encoding, 0
