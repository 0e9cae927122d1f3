"""Encoded-batch bodies for the fuzzer: well-formed Parquet with hostile contents.

Random bytes only ever meet the first check of the batch reader ("not a Parquet file"). The
strategies here write real batch files, with a correct content hash, whose refs, filters,
metadata and columns vary the way an attacker or a broken encoder would vary them: refs that
are empty, very long, or hold NUL and other control characters; no records at all; another
agency, schema or segment layout (``name:512,zzz:512``, negative bits); an extra plaintext
column. The files are forged with pyarrow, not :class:`bloom.BatchWriter`, so that a writer
which refuses such refs does not stop the service from being tested with them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from bloom._batch import FORMAT, FORMAT_VERSION, METADATA_KEY, _ContentHasher

__all__ = ["Layout", "batch_bodies", "forge"]


@dataclass(frozen=True)
class Layout:
    """What an agreement expects of a batch: its schema fingerprint and segment layout."""

    fingerprint: str
    segments: tuple[tuple[str, int], ...]
    agencies: tuple[str, ...] = ()  # the first one's keys upload and query; then others

    @property
    def bits(self) -> int:
        return sum(b for _, b in self.segments)


@dataclass(frozen=True)
class Forgery:
    """How a forged batch departs from a valid one (nothing, by default)."""

    metadata: dict[str, Any] = field(default_factory=dict)  # overrides, after hashing
    extra_column: bool = False  # a plaintext column beside record_ref and bloom


def forge(
    refs: list[str], filters: np.ndarray, layout: Layout, agency: str, forgery: Forgery = Forgery()
) -> bytes:
    """A batch file (bytes) holding ``refs`` and ``filters``, hashed as the encoder hashes."""
    ref_arr = pa.array(refs, type=pa.string())
    width = filters.shape[1] * 8
    buf = pa.py_buffer(np.ascontiguousarray(filters, dtype="<u8"))
    blooms = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(refs), [None, buf])
    hasher = _ContentHasher()
    hasher.update(ref_arr, filters)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "schema_fingerprint": layout.fingerprint,
        "agency": agency,
        "record_count": len(refs),
        "filter_bits": width * 8,
        "segments": [{"name": n, "bits": b} for n, b in layout.segments],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "caselink_version": "fuzz",
        "content_hash": hasher.hexdigest(),
        **forgery.metadata,
    }
    columns = {"record_ref": ref_arr, "bloom": blooms}
    if forgery.extra_column:
        columns["given_name"] = pa.array(["Amina"] * len(refs), type=pa.string())
    table = pa.table(columns).replace_schema_metadata({METADATA_KEY: json.dumps(meta)})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


HOSTILE_REFS = ("", "\x00", "ref\x00nul", "tab\there", "\u202eevil", "r" * 257, "é" * 300)


def _forgeries(layout: Layout) -> st.SearchStrategy[Forgery]:
    """Half of the batches are forged only in their refs; the others also like this."""
    half = layout.bits // 2
    other = st.sampled_from(
        [
            Forgery(
                metadata={
                    "segments": [
                        {"name": "name", "bits": half},
                        {"name": "zzz", "bits": layout.bits - half},
                    ]
                }
            ),
            Forgery(
                metadata={
                    "segments": [
                        {"name": "name", "bits": -64},
                        {"name": "zzz", "bits": layout.bits + 64},
                    ]
                }
            ),
            Forgery(metadata={"schema_fingerprint": "blake3:" + "0" * 64}),
            Forgery(metadata={"record_count": 10**19}),
            Forgery(metadata={"filter_bits": 2**63}),
            Forgery(extra_column=True),
        ]
    )
    return st.one_of(st.just(Forgery()), other)


def _refs() -> st.SearchStrategy[list[str]]:
    one = st.one_of(
        st.sampled_from(HOSTILE_REFS), st.text(max_size=40), st.from_regex(r"\AF-[0-9]{1,9}\Z")
    )
    return st.lists(one, min_size=0, max_size=6, unique=True)


@st.composite
def _batch(draw: st.DrawFn, layout: Layout) -> bytes:
    refs = draw(_refs())
    seed = draw(st.integers(0, 2**32 - 1))
    filters = np.random.default_rng(seed).integers(
        0, 2**63, size=(len(refs), layout.bits // 64), dtype=np.uint64
    )
    agencies = layout.agencies or ("agency",)  # the first one's keys upload and query
    agency = agencies[0] if draw(st.integers(0, 3)) else draw(st.sampled_from(agencies))
    return forge(refs, filters, layout, agency, draw(_forgeries(layout)))


def batch_bodies(layout: Layout, known: list[bytes]) -> st.SearchStrategy[bytes]:
    """Forged batches, and ``known`` ones (already uploaded, or a valid query) as they are."""
    strategies = [_batch(layout)]
    if known:
        strategies.append(st.sampled_from(known))
    return st.one_of(strategies)
