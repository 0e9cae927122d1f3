"""The structure of a CSV register, read in the same pass as Arrow reads its values.

Arrow's streaming reader skips a record whose number of fields differs from the header's, and
cannot say where it was, nor where an unclosed quote began. This scanner walks the same bytes
with the same rules as Arrow's parser (``arrow/csv/parser.cc``: quoting is recognised at the
start of a field only, ``""`` inside quotes is one quote, CR, LF and CRLF end a line, a blank
line is no record) and records, by record number:

* the records with more or fewer fields than the header (the ones Arrow skips), and the line
  each starts on;
* a quote still open at the end of the input: the record and line where it opened;
* the records holding bytes that are not UTF-8 (when the input is not transcoded), and in
  which field;
* where lines and records part: a blank line, or a line break inside quotes, moves every
  later record one line further down. Those breakpoints give any record its line.

Record 0 is the header; record ``k`` is the ``k``-th record after it, which is the row number
every message uses. It is compiled (numba) and costs a few per cent of reading the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bloom._arrays import I64, U8
from bloom._jit import njit

__all__ = ["CsvScan", "CsvShape"]

# scanner state, one int64 each
(
    _ST,
    _CR,
    _FIELDS,
    _RECORD,
    _LINE,
    _REC_LINE,
    _QUOTE_REC,
    _QUOTE_LINE,
    _EXPECTED,
    _NEED,
    _LO,
    _HI,
    _OFFSET,
    _POS,
    _HEADER_END,
    _LAST_BAD_REC,
    _LAST_BAD_FIELD,
    _NSTATE,
) = range(18)
_LINE_START, _FIELD_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = range(5)
_LF, _CR_BYTE, _QUOTE = 10, 13, 34


@njit(inline="always")
def _end_record(s: I64, bad: I64, n_bad: int) -> int:  # pragma: no cover - compiled
    """The record ends: compare its field count with the header's; returns the new n_bad."""
    s[_FIELDS] += 1
    if s[_EXPECTED] < 0:
        s[_EXPECTED] = s[_FIELDS]
        s[_HEADER_END] = s[_POS]
    elif s[_FIELDS] != s[_EXPECTED]:
        bad[n_bad, 0] = s[_RECORD]
        bad[n_bad, 1] = s[_FIELDS]
        bad[n_bad, 2] = s[_REC_LINE]
        n_bad += 1
    s[_RECORD] += 1
    s[_FIELDS] = 0
    return n_bad


@njit(nogil=True)
def _scan(
    data: U8, start: int, delim: int, check_utf8: bool, s: I64, bad: I64, utf8: I64, breaks: I64
) -> tuple[int, int, int, int]:  # pragma: no cover - compiled
    """Scan ``data[start:]``, carrying the state ``s``; stop early when an output is full.

    Returns (bytes scanned up to, wrong field counts, bad UTF-8 places, breakpoints) written.
    The state lives in locals while scanning (the compiler keeps them in registers).
    """
    st, cr, fields, record, line = s[_ST], s[_CR], s[_FIELDS], s[_RECORD], s[_LINE]
    rec_line, expected, offset = s[_REC_LINE], s[_EXPECTED], s[_OFFSET]
    need, lo, hi = s[_NEED], s[_LO], s[_HI]
    n_bad = n_utf8 = n_breaks = 0
    cap = min(bad.shape[0], utf8.shape[0], breaks.shape[0])
    plain = np.ones(256, dtype=np.bool_)  # bytes that change nothing inside a field
    plain[_LF] = plain[_CR_BYTE] = plain[delim] = plain[_QUOTE] = False
    if check_utf8:
        plain[0x80:] = False
    n = data.shape[0]
    i = start
    while i < n and n_bad < cap and n_utf8 < cap and n_breaks < cap:
        if need == 0 and cr == 0 and st in (_UNQUOTED, _QUOTED):
            while i < n and plain[data[i]]:  # the bulk of a value, in a tight loop
                i += 1
            if i == n:
                break
        b = np.int64(data[i])
        i += 1
        if check_utf8 and (b >= 0x80 or need > 0):
            ok, lead = True, True  # UTF-8: a sequence cut short, a stray continuation byte,
            if need > 0:  # an overlong form, a surrogate or past U+10FFFF is not
                if lo <= b <= hi:
                    need -= 1
                    lead = False
                else:
                    ok = False
                    need = 0
                lo, hi = 0x80, 0xBF
            if lead and b >= 0x80:
                if 0xC2 <= b <= 0xDF:
                    need = 1
                elif 0xE0 <= b <= 0xEF:
                    need = 2
                    lo = 0xA0 if b == 0xE0 else 0x80
                    hi = 0x9F if b == 0xED else 0xBF
                elif 0xF0 <= b <= 0xF4:
                    need = 3
                    lo = 0x90 if b == 0xF0 else 0x80
                    hi = 0x8F if b == 0xF4 else 0xBF
                else:
                    ok = False
            if not ok:
                field_no = fields if st != _LINE_START else 0
                if s[_LAST_BAD_REC] != record or s[_LAST_BAD_FIELD] != field_no:
                    utf8[n_utf8, 0] = record
                    utf8[n_utf8, 1] = field_no
                    n_utf8 += 1
                    s[_LAST_BAD_REC], s[_LAST_BAD_FIELD] = record, field_no
        if cr == 1:  # the LF of a CRLF belongs to the line end just seen
            cr = 0
            if b == _LF:
                continue
        if st == _QUOTED:
            if b == _QUOTE:
                st = _QUOTE_IN_QUOTED
            elif b in (_LF, _CR_BYTE):  # a line break inside a value
                line += 1
                cr = 1 if b == _CR_BYTE else 0
            continue
        if st == _QUOTE_IN_QUOTED:
            if b == _QUOTE:  # "" inside quotes: one quote
                st = _QUOTED
                continue
            st = _UNQUOTED  # the quoted part ended; the field goes on unquoted
        if b in (_LF, _CR_BYTE):
            line += 1
            cr = 1 if b == _CR_BYTE else 0
            if st != _LINE_START:  # the record ends
                fields += 1
                if expected < 0:
                    expected = fields
                    s[_HEADER_END] = s[_POS] + i - start
                elif fields != expected:
                    bad[n_bad, 0], bad[n_bad, 1], bad[n_bad, 2] = record, fields, rec_line
                    n_bad += 1
                record += 1
                fields = 0
                st = _LINE_START
            continue
        if st == _LINE_START:  # a record starts on this line
            rec_line = line
            if line - record - 1 != offset:
                offset = line - record - 1
                breaks[n_breaks, 0], breaks[n_breaks, 1] = record, offset
                n_breaks += 1
            st = _FIELD_START
        if b == delim:
            fields += 1
            st = _FIELD_START
        elif b == _QUOTE and st == _FIELD_START:
            st = _QUOTED
            s[_QUOTE_REC], s[_QUOTE_LINE] = record, line
        else:
            st = _UNQUOTED
    s[_ST], s[_CR], s[_FIELDS], s[_RECORD], s[_LINE] = st, cr, fields, record, line
    s[_REC_LINE], s[_EXPECTED], s[_OFFSET] = rec_line, expected, offset
    s[_NEED], s[_LO], s[_HI] = need, lo, hi
    s[_POS] += i - start
    return i, n_bad, n_utf8, n_breaks


@dataclass
class CsvShape:
    """What the scan found, records numbered from the header (0)."""

    header_fields: int  # -1: no header (an empty input)
    records: int  # records after the header
    wrong_fields: np.ndarray  # (k, 3): record, its field count, the line it starts on
    unclosed_quote: tuple[int, int] | None  # (record, line) of a quote never closed
    bad_utf8: np.ndarray  # (k, 2): record, field (from 0) holding bytes that are not UTF-8
    breaks: np.ndarray  # (k, 2): from this record on, line = record + 1 + offset
    lines: int  # lines in the input
    stopped: bool = False  # the input ended early (it could not be decoded): no last record

    def true_rows(self, read: np.ndarray) -> np.ndarray:
        """Rows numbered among the records Arrow read (from 1) as true row numbers: past the
        records it skipped for their number of fields. Before the ``j``-th of those (from 0)
        come ``skipped[j] - j - 1`` records read; a record read as ``k`` moves past every
        skipped one with fewer records read before it than ``k``."""
        read = np.asarray(read, dtype=np.int64)
        skipped = np.sort(self.wrong_fields[:, 0])
        ahead = skipped - np.arange(len(skipped)) - 1
        return read + np.searchsorted(ahead, read, side="left")

    def line_of(self, rows: np.ndarray) -> np.ndarray:
        """The line (from 1, the header's usually) each record of ``rows`` starts on."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(self.breaks):
            return rows + 1
        k = np.searchsorted(self.breaks[:, 0], rows, side="right") - 1
        offset = np.where(k >= 0, self.breaks[np.maximum(k, 0), 1], 0)
        return rows + 1 + offset


@dataclass
class CsvScan:
    """Scans a CSV byte stream fed in pieces (``feed``), then ``finish`` says its shape."""

    delimiter: int
    check_utf8: bool = True
    _state: np.ndarray = field(init=False)
    _found: dict[str, list[np.ndarray]] = field(init=False)
    _shape: CsvShape | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._state = np.zeros(_NSTATE, dtype=np.int64)
        self._state[[_EXPECTED, _HEADER_END, _LAST_BAD_REC]] = -1
        self._state[_LINE] = 1
        self._state[[_LO, _HI]] = (0x80, 0xBF)
        self._found = {"bad": [], "utf8": [], "breaks": []}

    @property
    def header_end(self) -> int:
        """Bytes fed up to the end of the header's line break; -1 while it has not ended."""
        return int(self._state[_HEADER_END])

    @property
    def header_fields(self) -> int:
        return int(self._state[_EXPECTED])

    @property
    def line(self) -> int:
        """The line the scan has reached."""
        return int(self._state[_LINE])

    @property
    def record(self) -> int:
        """The record the scan is in (or about to start)."""
        return int(self._state[_RECORD])

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        arr = np.frombuffer(data, dtype=np.uint8)
        pos, cap = 0, 256
        while pos < arr.shape[0]:
            bad = np.empty((cap, 3), np.int64)
            utf8 = np.empty((cap, 2), np.int64)
            breaks = np.empty((cap, 2), np.int64)
            pos, nb, nu, nk = _scan(
                arr, pos, self.delimiter, self.check_utf8, self._state, bad, utf8, breaks
            )
            for key, out, n in (("bad", bad, nb), ("utf8", utf8, nu), ("breaks", breaks, nk)):
                if n:
                    self._found[key].append(out[:n].copy())
            cap = min(cap * 4, 1 << 20)

    def finish(self, *, stopped: bool = False) -> CsvShape:
        """The shape of everything fed; the last record ends here (unless ``stopped``). Once
        finished, the shape stays: feed nothing more."""
        if self._shape is not None:
            return self._shape
        s = self._state
        unclosed = None
        if not stopped:
            if s[_NEED] > 0 and self.check_utf8:  # a sequence cut short by the end
                self._found["utf8"].append(np.array([[s[_RECORD], s[_FIELDS]]], np.int64))
            if s[_ST] in (_QUOTED,):
                unclosed = (int(s[_QUOTE_REC]), int(s[_QUOTE_LINE]))
            if s[_ST] != _LINE_START:
                bad = np.empty((1, 3), np.int64)
                if _end_record(s, bad, 0):
                    self._found["bad"].append(bad)
                s[_ST] = _LINE_START
        records = int(s[_RECORD]) - 1 if s[_EXPECTED] >= 0 else 0
        self._shape = CsvShape(
            header_fields=int(s[_EXPECTED]),
            records=max(records, 0),
            wrong_fields=_stack(self._found["bad"], 3),
            unclosed_quote=unclosed,
            bad_utf8=_stack(self._found["utf8"], 2),
            breaks=_stack(self._found["breaks"], 2),
            lines=int(s[_LINE]),
            stopped=stopped,
        )
        return self._shape


def _stack(parts: list[np.ndarray], width: int) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty((0, width), np.int64)
