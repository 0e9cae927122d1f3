"""``batch_records`` keeps what a batch said of each record's household and consent, and a
run gets it back exactly: the columns' values from a batch's arrays and back again, for any
values (hypothesis), and ``None`` for a fact the batch did not carry."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import bloom
from bloom._households import RELATIONSHIPS, SCOPE_PATTERN
from service._batch_facts import has_facts, loaded_facts, stored_facts

N = 6
_scope = st.from_regex(SCOPE_PATTERN, fullmatch=True)
_consent = st.lists(_scope, max_size=3).map(lambda s: " ".join(sorted(set(s))))


def _batch(groups, relationships, consent) -> bloom.EncodedBatch:
    meta = bloom.BatchMetadata(
        schema_fingerprint="blake3:" + "0" * 64,
        agency="agency-a",
        record_count=N,
        filter_bits=64,
        segments=(("all", 64),),
        created_at="2026-12-10T00:00:00+00:00",
        caselink_version="test",
        content_hash="blake3:" + "0" * 64,
    )
    return bloom.EncodedBatch(
        record_refs=np.array([f"R{k}" for k in range(N)], dtype=object),
        filters=np.zeros((N, 1), np.uint64),
        metadata=meta,
        groups=groups,
        relationships=relationships,
        consent=consent,
    )


@given(
    groups=st.none() | st.lists(st.integers(0, 2**64 - 1), min_size=N, max_size=N),
    relationships=st.none()
    | st.lists(st.integers(-1, len(RELATIONSHIPS) - 1), min_size=N, max_size=N),
    consent=st.none() | st.lists(_consent, min_size=N, max_size=N),
)
def test_what_is_stored_comes_back_as_the_batch_said_it(groups, relationships, consent):
    batch = _batch(
        None if groups is None else np.array(groups, np.uint64),
        None if relationships is None else np.array(relationships, np.int8),
        None if consent is None else np.array(consent, dtype=object),
    )
    rows = stored_facts(batch)
    for g, r, _ in rows:
        assert g is None or (isinstance(g, int) and g != 0)  # 0 (no group) is NULL
        assert r is None or 0 <= r < len(RELATIONSHIPS)  # -1 (not given) is NULL
    back = loaded_facts(rows)
    said_group = groups is not None and any(groups)
    said_relationship = relationships is not None and any(r >= 0 for r in relationships)
    assert (back.groups is None) == (not said_group)
    if said_group:
        assert back.groups.dtype == np.uint64 and back.groups.tolist() == groups
    assert (back.relationships is None) == (not said_relationship)
    if said_relationship:
        assert back.relationships.tolist() == relationships
    assert (back.consent is None) == (consent is None)
    if consent is not None:
        assert back.consent.tolist() == consent


def test_a_batch_without_facts_stores_nulls_and_comes_back_without_them():
    batch = _batch(None, None, None)
    assert not has_facts(batch)
    rows = stored_facts(batch)
    assert rows == [(None, None, None)] * N
    back = loaded_facts(rows)
    assert (back.groups, back.relationships, back.consent) == (None, None, None)


def test_a_consent_set_later_on_some_records_leaves_the_others_unsaid():
    rows = [(None, None, None), (None, None, "tracing"), (None, None, "")]
    assert loaded_facts(rows).consent.tolist() == [None, "tracing", ""]
