"""The reference encoder: plain Python, one record and one token at a time.

It defines what the bits must be, in the fewest lines: the fast :class:`~bloom._encoder.Encoder`
must give exactly the same filters (the tests hold it to that on random and real data). It is
far too slow for real registers; nothing but the tests uses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bloom._hardening import Hardener
from bloom._hashing import TokenHasher, derive_key
from bloom._schema import Schema
from bloom._secret import Secret
from bloom._tokens import field_tokens, parse_value, salt_values, slot_weight

__all__ = ["reference_encode"]


def _salts(row: pd.Series, schema: Schema, name: str) -> tuple[str, ...] | None:
    """The salts of field ``name`` in this record (one per slot), or None when unsalted."""
    spec = schema.field(name).salt
    if spec is None:
        return None
    f = schema.field(spec.field)
    raw = row[f.column]
    parsed, status = parse_value("" if pd.isna(raw) else str(raw), f)
    if status != "ok" and spec.missing == "skip":
        return ()
    return salt_values(parsed if status == "ok" else None, f, spec.part)


def reference_encode(df: pd.DataFrame, schema: Schema, secret: Secret) -> np.ndarray:
    """Filters for every row of ``df`` (missing cells as NaN/None), hardening included."""
    hashed = np.zeros((len(df), schema.hashed_bits // 64), dtype=np.uint64)
    hashers = {}
    for f in schema.fields:
        seg = schema.segment(f.segment)
        hashers[f.name] = TokenHasher(
            derive_key(secret, "field", f.hash_domain), seg.offset, seg.bits
        )
    for r, (_, row) in enumerate(df.iterrows()):
        for f in schema.fields:
            raw = row[f.column]
            parsed, status = parse_value("" if pd.isna(raw) else str(raw), f)
            if status != "ok":
                continue
            salts = _salts(row, schema, f.name)
            slots = [(f"{s}\x1e", i, len(salts)) for i, s in enumerate(salts)] if salts else []
            for prefix, slot, n in slots if salts is not None else [("", 0, 1)]:
                for tok, tokens in field_tokens(parsed, f):
                    weight = slot_weight(tok.weight, slot, n)
                    for t in tokens:
                        for p in hashers[f.name].positions(prefix + t, weight):
                            hashed[r, p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    return Hardener(schema, secret).apply(hashed)
