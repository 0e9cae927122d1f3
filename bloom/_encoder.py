"""The fast encoder: each distinct value parsed and tokenised once, each distinct token hashed once.

Per field, a chunk's column is dictionary-encoded. Distinct raw values are normalised or
parsed as dates straight from the dictionary's Arrow buffers (``_arrowparse``; numbers and
non-ASCII text one by one), tokenised into integer keys per value (q-grams in a compiled
kernel), and every distinct token is mapped to a row of BLAKE3 bit positions by a
:class:`TokenVocab` (q-gram and date keys hashed in compiled code, other tokens remembered
across chunks). A compiled kernel then ORs the rows into each record's filter. Salting
factorises the field on (salt, value) pairs instead, once per salt slot (a ``year_window`` salt
has two, each hashing every token with half its weight).

The result equals ``_reference.reference_encode`` bit for bit.

Besides the filters, a chunk says which of its rows need the data officer's eye, by problem
code (:data:`CODES`): the values that could not be read, a category value that is none of the
schema's, a date that is not valid in the order in use but is in another, a date whose day and
month could be swapped. Which of them refuse the register is the report's business
(:mod:`bloom._problems`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from bloom._arrays import I64
from bloom._arrowparse import FlatText, normalise_dictionary, parse_dates_dictionary
from bloom._datekeys import date_keys_ymd
from bloom._dateorder import is_day_month
from bloom._fastparse import DateParser, TextNormaliser
from bloom._hardening import Hardener
from bloom._hashing import TokenHasher, derive_key
from bloom._schema import Field, SaltSpec, Schema, Tokeniser
from bloom._secret import Secret
from bloom._tokens import _tokens_for, fold_text, parse_number, salt_values, slot_weight
from bloom._vocab import (
    TokenCSR,
    TokenVocab,
    add_token_bits,
    expand_to_pairs,
    or_masks,
    qgram_keys_flat,
)

__all__ = ["CODES", "ChunkResult", "Encoder", "factorize"]

_OK, _MISSING, _INVALID, _UNKNOWN, _WRONG_ORDER = 0, 1, 2, 3, 4
Salts = list[tuple[np.ndarray, list[str]]]  # per slot: salt code per row, the salt strings
CODES = (
    "missing_value",  # empty in a field whose schema rejects missing values
    "invalid_date",  # not a date in the field's formats
    "invalid_number",
    "wrong_date_order",  # not a date in the order in use, but one in the other order
    "unknown_category",  # none of a category field's values or their spellings
    "ambiguous_date",  # day and month both 12 or less (and different) in a day-month format
)


@dataclass
class ChunkResult:
    filters: np.ndarray
    missing: dict[str, int] = field(default_factory=dict)  # per field: missing values
    flagged: dict[tuple[str, str], np.ndarray] = field(
        default_factory=dict
    )  # (field, code) -> row numbers (counted from the chunk's first_row)


def factorize(column: pa.Array | pa.ChunkedArray | pd.Series) -> tuple[I64, pa.Array]:
    """Codes per row (-1 for a missing cell) and the distinct raw values, as a string array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if isinstance(column, pa.Array):
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        enc = column.dictionary_encode(null_encoding="mask")
        return _codes(enc.indices), enc.dictionary
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes.astype(np.int64), pa.array([str(u) for u in uniques], type=pa.string())


def _codes(indices: pa.Int32Array) -> I64:
    """Dictionary indices as int64, -1 where null (read from the validity bitmap)."""
    codes: np.ndarray | None = (
        indices.to_numpy(zero_copy_only=False) if indices.null_count == 0 else None
    )
    if codes is not None:
        return codes.astype(np.int64)
    validity, data = indices.buffers()[:2]
    lo, n = indices.offset, len(indices)
    raw = np.frombuffer(data, dtype=np.int32)[lo : lo + n]
    valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[lo : lo + n]
    return np.where(valid.astype(bool), raw, -1).astype(np.int64)


@dataclass
class Parsed:
    """A field's distinct values, parsed: status per value, and text or dates (or objects)."""

    status: np.ndarray  # int8: _OK, _MISSING, _INVALID, _UNKNOWN or _WRONG_ORDER
    text: FlatText | None = None  # normalised text ('' when missing)
    ymd: np.ndarray | None = None  # dates: (n, 3) year, month, day; 0 for an unknown part
    objects: list[Any] | None = None  # the parsed values (None when not ok), made on demand
    ambiguous: np.ndarray | None = None  # dates: day and month could be read the other way

    def values(self) -> list[Any]:
        if self.objects is None:
            if self.text is not None:
                self.objects = self.text.strings()
            else:
                assert self.ymd is not None
                self.objects = [
                    (y, m or None, d or None) if s == _OK else None
                    for (y, m, d), s in zip(self.ymd.tolist(), self.status, strict=True)
                ]
        return self.objects


class _FieldEncoder:
    """Parsing, tokenising and bit-setting for one field."""

    def __init__(self, f: Field, hasher: TokenHasher, word0: int, seg_words: int) -> None:
        self.field = f
        self._word0, self._seg_words = word0, seg_words
        self._normalise = TextNormaliser(f.normalise) if f.normalise else None
        self._dates = DateParser(f.date_formats) if f.type == "date" else None
        self._alt_dates = DateParser(f.alt_date_formats) if f.alt_date_formats else None
        # per format (and -1: none), whether its day and month could be swapped
        self._day_month = np.array([is_day_month(x) for x in f.date_formats] + [False])
        self._categories = dict(f.category_map) if f.category_map else None
        self._toks = [t for t in f.tokenisers if t.weight > 0]
        slots = f.salt.slots if f.salt is not None else 1
        self._slot_vocabs = [
            [_vocab(hasher, t, s, slots) for t in self._toks] for s in range(slots)
        ]
        self._placeholders = np.array(f.year_only_day_months, dtype=np.int64).reshape(-1, 2)

    def parse(self, uniques: pa.Array) -> Parsed:
        status = np.zeros(len(uniques), dtype=np.int8)
        if self._normalise is not None:
            text = normalise_dictionary(uniques, self._normalise)
            if self.field.normalise and self.field.normalise.get("fold", "none") != "none":
                text = FlatText.from_strings(
                    [fold_text(v, self.field.normalise) for v in text.strings()]
                )
            if self._categories is not None:
                return self._categorised(text, status)
            status[np.diff(text.offsets) == 0] = _MISSING
            return Parsed(status, text=text)
        if self._dates is not None:
            return self._parse_dates(uniques, status)
        raw = uniques.to_pylist()
        values = [parse_number(v) if v.strip() else None for v in raw]
        for i, (r, v) in enumerate(zip(raw, values, strict=True)):
            if v is None:
                status[i] = _INVALID if r.strip() else _MISSING
        return Parsed(status, objects=values)

    def _categorised(self, text: FlatText, status: np.ndarray) -> Parsed:
        """Each distinct value as its category (spellings mapped); none of them: unknown."""
        assert self._categories is not None
        values = text.strings()
        mapped = [self._categories.get(v, "") for v in values]  # per distinct value
        status[[not v for v in values]] = _MISSING
        status[[bool(v) and not m for v, m in zip(values, mapped, strict=True)]] = _UNKNOWN
        return Parsed(status, text=FlatText.from_strings(mapped))

    def _parse_dates(self, uniques: pa.Array, status: np.ndarray) -> Parsed:
        assert self._dates is not None
        dates = parse_dates_dictionary(uniques, self._dates)
        ymd, ok = dates.ymd, dates.ok
        m, d = ymd[:, 1], ymd[:, 2]
        ambiguous = ok & self._day_month[dates.format] & (m >= 1) & (d >= 1)
        ambiguous &= (m <= 12) & (d <= 12) & (m != d)
        for month, day in self._placeholders:  # a placeholder day-month: year only
            ymd[(ymd[:, 1] == month) & (ymd[:, 2] == day), 1:] = 0
        status[~ok] = np.where(dates.blank[~ok], _MISSING, _INVALID)
        if self._alt_dates is not None:  # valid in the other order: the order is likely wrong
            bad = np.flatnonzero(status == _INVALID)
            for i, raw in zip(bad.tolist(), uniques.take(bad).to_pylist(), strict=True):
                if self._alt_dates(raw) is not None:
                    status[i] = _WRONG_ORDER
        return Parsed(status, ymd=ymd, ambiguous=ambiguous)

    def tokens(self, parsed: Parsed, salted: bool = False) -> list[TokenCSR]:
        status, out = parsed.status, []
        for tok in self._toks:
            if tok.kind == "exact" and parsed.text is not None and not (tok.per_part or salted):
                out.append(_exact_flat_tokens(parsed.text, status == _OK))
            elif tok.kind == "qgram":
                assert parsed.text is not None  # q-grams are for text fields only
                text = parsed.text
                out.append(
                    qgram_keys_flat(text.codes, text.offsets, tok.q, tok.padding, tok.per_part)
                )
            elif tok.kind == "date":
                assert parsed.ymd is not None
                out.append(date_keys_ymd(parsed.ymd, status == _OK, tok.parts))
            else:
                out.append(self._string_tokens(parsed.values(), status, tok))
        return out

    def _string_tokens(self, values: list[Any], status: np.ndarray, tok: Tokeniser) -> TokenCSR:
        if tok.kind == "exact" and self.field.type in ("name", "string", "category"):
            return _exact_text_tokens(values, status == _OK, tok.per_part)
        ids: dict[str, int] = {}
        keys: list[int] = []
        indptr = np.zeros(len(values) + 1, dtype=np.int64)
        for u, (v, s) in enumerate(zip(values, status, strict=True)):
            if s == _OK:
                keys.extend(ids.setdefault(t, len(ids)) for t in _tokens_for(v, self.field, tok))
            indptr[u + 1] = len(keys)
        return TokenCSR(indptr, np.asarray(keys, dtype=np.uint64), list(ids))

    def encode(
        self, bits: np.ndarray, column: Any, salts: Salts | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Set this field's bits; returns the status of every row (ok, missing, invalid...)
        and, for a date field, whether each row's date is ambiguous."""
        codes, uniques = factorize(column)
        parsed = self.parse(uniques)
        ambiguous = None
        if parsed.ambiguous is not None and parsed.ambiguous.any():
            ambiguous = np.append(parsed.ambiguous, False)[codes]
        status = parsed.status.copy()  # marked missing below where no token came out
        csrs = self.tokens(parsed, salted=salts is not None)
        if not csrs:  # a salt-only field (weight 0): it sets no bits of its own
            return np.append(status, np.int8(_MISSING))[codes], ambiguous
        empty = np.add.reduce([np.diff(c.indptr) for c in csrs]) == 0
        status[(status == _OK) & empty] = _MISSING
        if salts is None:
            self._set(bits, codes, csrs, self._slot_vocabs[0], None, [])
        for (salt_rows, names), vocabs in zip(salts or [], self._slot_vocabs, strict=False):
            row_codes, value_of_pair, salt_of_value = _pair_codes(codes, salt_rows, len(status))
            pairs = [expand_to_pairs(c, value_of_pair) for c in csrs]
            self._set(bits, row_codes, pairs, vocabs, salt_of_value, names)
        return np.append(status, np.int8(_MISSING))[codes], ambiguous  # code -1: a null cell

    def _set(
        self,
        bits: np.ndarray,
        row_codes: np.ndarray,
        csrs: list[TokenCSR],
        vocabs: list[TokenVocab | None],
        salt_of_value: np.ndarray | None,
        salt_names: list[str],
    ) -> None:
        """OR into each row the tokens of its value (or its (salt, value) pair)."""
        masks = np.zeros((len(csrs[0].indptr) - 1, self._seg_words), dtype=np.uint64)
        for csr, vocab in zip(csrs, vocabs, strict=True):
            if vocab is None:  # no weight left for this tokeniser in this salt slot
                continue
            salt_of_key = None
            if salt_of_value is not None:
                salt_of_key = np.repeat(salt_of_value, np.diff(csr.indptr))
            rows, table = vocab.rows(csr, salt_of_key, salt_names)
            add_token_bits(masks, self._word0, csr.indptr, rows, table)
        or_masks(bits, row_codes, masks, self._word0)


def _vocab(hasher: TokenHasher, tok: Tokeniser, slot: int, slots: int) -> TokenVocab | None:
    weight = slot_weight(tok.weight, slot, slots)
    return TokenVocab(hasher, replace(tok, weight=weight)) if weight else None


def _exact_flat_tokens(text: FlatText, live: np.ndarray) -> TokenCSR:
    """The whole normalised value as one token, its key the value's index into ``text``."""
    indptr = np.zeros(len(live) + 1, dtype=np.int64)
    np.cumsum(live, out=indptr[1:])
    keys = np.flatnonzero(live).astype(np.uint64)
    return TokenCSR(indptr, keys, texts=(text.codes, text.offsets))


def _exact_text_tokens(values: list[str], live: np.ndarray, per_part: bool) -> TokenCSR:
    """The whole normalised value (or each of its parts) as one token."""
    texts = [v for v, ok in zip(values, live, strict=True) if ok]
    counts = live.astype(np.int64)
    if per_part:
        split = [t.split(" ") for t in texts]
        counts[live] = [len(p) for p in split]
        texts = [p for parts in split for p in parts]
    indptr = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return TokenCSR(indptr, np.arange(len(texts), dtype=np.uint64), texts)


def _pair_codes(
    codes: np.ndarray, salt_rows: np.ndarray, nv: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row a code of its (salt, value) pair (-1 if either is missing); per pair its value
    and salt."""
    valid = (codes >= 0) & (salt_rows >= 0)
    pair_of_row, pairs = pd.factorize(salt_rows[valid] * max(nv, 1) + codes[valid])
    pair_codes = np.full(codes.shape, -1, dtype=np.int64)
    pair_codes[valid] = pair_of_row
    pairs = np.asarray(pairs, dtype=np.int64)
    return pair_codes, pairs % max(nv, 1), pairs // max(nv, 1)


class Encoder:
    """Encodes chunks for one schema and secret; keeps keys and token rows between chunks."""

    def __init__(self, schema: Schema, secret: Secret) -> None:
        self.schema = schema
        self._fields = []
        for f in schema.fields:
            seg = schema.segment(f.segment)
            hasher = TokenHasher(derive_key(secret, "field", f.hash_domain), seg.offset, seg.bits)
            self._fields.append(_FieldEncoder(f, hasher, seg.offset // 64, seg.bits // 64))
        self._hardener = Hardener(schema, secret)
        self._by_name = {fe.field.name: fe for fe in self._fields}

    def encode_chunk(self, columns: Mapping[str, Any], n: int, first_row: int = 1) -> ChunkResult:
        """Encode ``n`` rows given as columns (Arrow arrays or pandas Series of text/None)."""
        hashed = np.zeros((n, self.schema.hashed_bits // 64), dtype=np.uint64)
        result = ChunkResult(filters=hashed)
        salts: dict[SaltSpec, Salts] = {}
        for fe in self._fields:
            spec = fe.field.salt
            if spec is not None and spec not in salts:
                salts[spec] = self._salts(spec, columns)
            use = salts[spec] if spec is not None else None
            status, ambiguous = fe.encode(hashed, columns[fe.field.column], use)
            _account(fe.field, status, ambiguous, result, first_row)
        result.filters = self._hardener.apply(hashed)
        return result

    def _salts(self, spec: SaltSpec, columns: Mapping[str, Any]) -> Salts:
        """Per slot of ``spec``: each row's salt code and the distinct salt strings."""
        fe = self._by_name[spec.field]
        codes, uniques = factorize(columns[fe.field.column])
        parsed = fe.parse(uniques)
        values, status = parsed.values(), parsed.status
        per_value = [
            salt_values(v if s == _OK else None, fe.field, spec.part)
            for v, s in zip(values, status, strict=True)
        ]
        per_value.append(salt_values(None, fe.field, spec.part))  # a null cell
        skip = np.append(status != _OK, True) if spec.missing == "skip" else None
        out = []
        for slot in range(spec.slots):
            text = np.asarray([v[slot] for v in per_value], dtype=object)
            salt_codes, salt_uniques = pd.factorize(text)
            if skip is not None:
                salt_codes[skip] = -1  # no salt: the field sets no bits in this record
            rows = np.where(codes >= 0, salt_codes[codes], salt_codes[-1])
            out.append((rows.astype(np.int64), [str(s) for s in salt_uniques]))
        return out


def _account(
    f: Field,
    row_status: np.ndarray,
    ambiguous: np.ndarray | None,
    result: ChunkResult,
    first_row: int,
) -> None:
    """Count the missing values; flag the rows of each problem, by code."""
    missing_rows = np.flatnonzero(row_status == _MISSING)
    if f.missing == "reject" and missing_rows.size:
        result.flagged[(f.name, "missing_value")] = missing_rows + first_row
    else:
        result.missing[f.name] = int(missing_rows.size)
    invalid = "invalid_date" if f.type == "date" else "invalid_number"
    for status, code in (
        (_INVALID, invalid),
        (_WRONG_ORDER, "wrong_date_order"),
        (_UNKNOWN, "unknown_category"),
    ):
        rows = np.flatnonzero(row_status == status)
        if rows.size:
            result.flagged[(f.name, code)] = rows + first_row
    if ambiguous is not None:
        result.flagged[(f.name, "ambiguous_date")] = np.flatnonzero(ambiguous) + first_row
