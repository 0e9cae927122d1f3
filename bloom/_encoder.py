"""Encoding a DataFrame chunk: parse and tokenise each distinct value once, then set bits.

For each field the column is factorised; each distinct raw value is normalised, tokenised and
hashed once (token positions are cached across chunks), which gives a CSR table of positions
per distinct value. A compiled kernel then ORs those positions into every record's filter.
Salting (a hardening step) makes the positions depend on the record's salt value too, so the
field is factorised on the (salt, value) pair instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bloom._bitops import set_bits
from bloom._hardening import Hardener
from bloom._hashing import TokenHasher, derive_key
from bloom._schema import Field, Schema
from bloom._secret import Secret
from bloom._tokens import field_tokens, parse_value, salt_value

__all__ = ["ChunkResult", "Encoder"]

MAX_ROWS_LISTED = 10


@dataclass
class ChunkResult:
    filters: np.ndarray
    missing: dict[str, int] = field(default_factory=dict)  # per field: missing values
    invalid: dict[str, int] = field(default_factory=dict)  # per field: unparseable, kept missing
    rejected: dict[tuple[str, str], list[int]] = field(
        default_factory=dict
    )  # (field, rule) -> rows


def _cells(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (-1 for a missing cell) and the distinct raw values."""
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


class Encoder:
    """Encodes chunks for one schema and secret; keeps keys and token caches between chunks."""

    def __init__(self, schema: Schema, secret: Secret) -> None:
        self.schema = schema
        self._hashers: dict[str, TokenHasher] = {}
        for f in schema.fields:
            seg = schema.segment(f.segment)
            self._hashers[f.name] = TokenHasher(
                derive_key(secret, "field", f.hash_domain), seg.offset, seg.bits
            )
        self._hardener = Hardener(schema, secret)
        h = schema.hardening
        self._salt_field = schema.field(h.salt_field) if h.salt_field else None

    def encode_chunk(self, df: pd.DataFrame, first_row: int = 1) -> ChunkResult:
        """Encode ``df`` (columns as str, missing as NaN); rows are numbered from first_row."""
        n = len(df)
        hashed = np.zeros((n, self.schema.hashed_bits // 64), dtype=np.uint64)
        result = ChunkResult(filters=hashed)
        salts = self._salts(df)
        for f in self.schema.fields:
            self._encode_field(df[f.column], f, salts, hashed, result, first_row)
        result.filters = self._hardener.apply(hashed)
        return result

    def _salts(self, df: pd.DataFrame) -> tuple[np.ndarray, list[str]] | None:
        f = self._salt_field
        if f is None:
            return None
        codes, uniques = _cells(df[f.column])
        values = []
        for raw in uniques:
            parsed, status = parse_value(str(raw), f)
            values.append(
                salt_value(parsed if status == "ok" else None, f, self.schema.hardening.salt_part)
            )
        # distinct raw values can share a salt: re-factorise the salt strings
        salt_codes, salt_uniques = pd.factorize(np.asarray([*values, ""], dtype=object))
        per_row = np.where(codes >= 0, salt_codes[codes], salt_codes[-1])
        return per_row.astype(np.int64), list(salt_uniques)

    def _encode_field(self, col, f: Field, salts, bits, result: ChunkResult, first_row) -> None:
        codes, uniques = _cells(col)
        salted = salts is not None and f is not self._salt_field
        if salted:
            salt_codes, salt_values = salts
            combined = np.where(codes >= 0, salt_codes * (len(uniques) + 1) + codes, -1)
            codes, pair_ids = pd.factorize(combined, use_na_sentinel=False)
            codes = codes.astype(np.int64)
            pairs = [(int(p) // (len(uniques) + 1), int(p) % (len(uniques) + 1)) for p in pair_ids]
            missing_code = next((i for i, p in enumerate(pair_ids) if p == -1), None)
        else:
            pairs = [(None, i) for i in range(len(uniques))]
            missing_code = None
        hasher = self._hashers[f.name]
        status_of = np.empty(len(pairs) + 1, dtype=np.int8)  # 0 ok, 1 missing, 2 invalid
        indptr = np.zeros(len(pairs) + 1, dtype=np.int64)
        chunks: list[np.ndarray] = []
        parsed_cache: dict[int, tuple[object, str]] = {}
        for u, (s, v) in enumerate(pairs):
            if u == missing_code:
                status_of[u] = 1
                indptr[u + 1] = indptr[u]
                continue
            if v not in parsed_cache:
                parsed_cache[v] = parse_value(str(uniques[v]), f)
            parsed, status = parsed_cache[v]
            pos_list = []
            if status == "ok":
                prefix = f"{salt_values[s]}\x1e" if salted else ""
                for tok, tokens in field_tokens(parsed, f):
                    pos_list += [hasher.positions(prefix + t, tok.weight) for t in tokens]
            if status == "ok" and not pos_list:
                status = "missing"
            status_of[u] = {"ok": 0, "missing": 1, "invalid": 2}[status]
            if pos_list:
                chunks.append(np.concatenate(pos_list))
            indptr[u + 1] = indptr[u] + (chunks[-1].size if pos_list else 0)
        positions = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        set_bits(bits, codes, indptr, positions)
        row_status = np.where(codes >= 0, status_of[np.maximum(codes, 0)], 1)
        self._account(f, row_status, result, first_row)

    @staticmethod
    def _account(f: Field, row_status: np.ndarray, result: ChunkResult, first_row: int) -> None:
        missing_rows = np.flatnonzero(row_status == 1)
        invalid_rows = np.flatnonzero(row_status == 2)
        if f.missing == "reject" and missing_rows.size:
            result.rejected[(f.name, "missing")] = (missing_rows + first_row).tolist()
        else:
            result.missing[f.name] = int(missing_rows.size)
        if invalid_rows.size:
            if f.on_invalid == "reject":
                result.rejected[(f.name, "invalid")] = (invalid_rows + first_row).tolist()
            else:
                result.invalid[f.name] = int(invalid_rows.size)
