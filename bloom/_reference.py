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
from bloom._tokens import field_tokens, parse_value, salt_value

__all__ = ["reference_encode"]


def _salt(row: pd.Series, schema: Schema) -> str | None:
    name = schema.hardening.salt_field
    if name is None:
        return None
    f = schema.field(name)
    raw = row[f.column]
    parsed, status = parse_value("" if pd.isna(raw) else str(raw), f)
    return salt_value(parsed if status == "ok" else None, f, schema.hardening.salt_part)


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
        salt = _salt(row, schema)
        for f in schema.fields:
            raw = row[f.column]
            parsed, status = parse_value("" if pd.isna(raw) else str(raw), f)
            if status != "ok":
                continue
            use_salt = salt is not None and f.name != schema.hardening.salt_field
            prefix = f"{salt}\x1e" if use_salt else ""
            for tok, tokens in field_tokens(parsed, f):
                for t in tokens:
                    for p in hashers[f.name].positions(prefix + t, tok.weight):
                        hashed[r, p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    return Hardener(schema, secret).apply(hashed)
