"""Is a query's confidence calibrated? Measured on synthetic people, without a server.

Four agencies register 1,500 synthetic people (each agency holds a person with probability
0.5, every registration corrupted on its own). Three agencies are linked by the engine into a
registry; the fourth agency's records are the queries — some of their people are in the
registry, some are not. A candidate case is right when it holds a registration of the
query's person.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bloom
import linkage
from evaluation import expected_calibration_error, generate_synthetic
from linkage._features import segment_words


@pytest.fixture(scope="module")
def measured(person_schema, secret, tmp_path_factory):
    data = generate_synthetic(1500, 4, overlap=0.5, seed=21)
    enc = {
        a: bloom.encode(df, person_schema, secret, agency=a, id_column="record_ref")
        for a, df in data.agencies.items()
    }
    names = sorted(enc)
    registry = linkage.Registry.open(tmp_path_factory.mktemp("calib") / "registry.sqlite")
    linkage.link([enc[a] for a in names[:3]], registry=registry)
    st = registry.state()
    index = linkage.QueryIndex.build(
        "agr", st.filters, st.agencies, st.case_ids, segment_words(enc[names[0]].metadata)
    )
    queries = enc[names[3]]
    hits = index.search(queries.filters, top_k=5, min_confidence=0.0)
    truth = data.truth
    keys = zip(truth.agency, truth.record_ref, strict=True)
    entity = dict(zip(keys, truth.entity_id, strict=True))
    persons = [entity[k] for k in zip(st.agencies, st.refs, strict=True)]
    held = pd.DataFrame({"case": st.case_ids, "person": persons})
    people_of = held.groupby("case")["person"].apply(set).to_dict()
    rows = []
    for ref, found in zip(queries.record_refs, hits, strict=True):
        person = entity[(names[3], ref)]
        for rank, h in enumerate(found):
            rows.append((person, rank, h.confidence, person in people_of[h.case_id]))
        if not found:
            rows.append((person, -1, 0.0, False))
    table = pd.DataFrame(rows, columns=["person", "rank", "confidence", "right"])
    table["registered"] = table["person"].isin(set(held["person"]))
    return table


def test_planted_true_matches_get_high_confidence(measured):
    top = measured[measured["rank"] <= 0]
    present = top[top["registered"]]
    assert len(present) > 500
    assert present["right"].mean() > 0.97
    assert (present["confidence"] >= 0.5).mean() > 0.95


def test_absent_people_get_low_or_no_confidence(measured):
    top = measured[measured["rank"] <= 0]
    absent = top[~top["registered"]]
    assert len(absent) > 50
    assert (absent["confidence"] >= 0.5).mean() < 0.03
    assert absent["confidence"].median() < 0.01


def test_confidence_is_calibrated(measured):
    c = measured[measured["rank"] >= 0]
    ece = expected_calibration_error(c["confidence"].to_numpy(), c["right"].to_numpy())
    assert ece < 0.03
    high = c[c["confidence"] >= 0.9]
    assert high["right"].mean() >= 0.97
    low = c[c["confidence"] < 0.1]
    assert low["right"].mean() <= 0.1


def test_calibrated_when_half_the_sought_people_are_absent(person_schema, secret):
    """Registers where everyone is held twice (the registry's own share is near 1) and
    queries of which half are people nobody registered: the query prior keeps the mid-range
    honest instead of calling every lone look-alike a match."""
    data = generate_synthetic(4000, 3, overlap=[1.0, 1.0, 0.06], seed=5)
    absent = generate_synthetic(250, 1, seed=6).agencies["agency-a"]
    reg = {
        a: bloom.encode(data.agencies[a], person_schema, secret, agency=a, id_column="record_ref")
        for a in ("agency-a", "agency-b")
    }
    truth = data.truth.set_index(["agency", "record_ref"])["entity_id"]
    persons = [truth.loc[a].reindex(b.record_refs).to_numpy() for a, b in reg.items()]
    index = linkage.QueryIndex.build(
        "agr",
        np.vstack([b.filters for b in reg.values()]),
        np.concatenate([[a] * len(b) for a, b in reg.items()]),
        np.concatenate(persons).astype(str),
        segment_words(reg["agency-a"].metadata),
    )
    assert index.model.registry_share > 0.9 and index.model.matched_share == 0.5
    sought = data.agencies["agency-c"]
    queries = bloom.encode(
        pd.concat([sought, absent], ignore_index=True).assign(
            record_ref=lambda d: [f"Q{k}" for k in range(len(d))]
        ),
        person_schema,
        secret,
        agency="t",
        id_column="record_ref",
    )
    want = [str(truth[("agency-c", r)]) for r in sought["record_ref"]] + [None] * len(absent)
    conf, right = [], []
    for found, person in zip(index.search(queries.filters, 5, 0.0), want, strict=True):
        conf += [h.confidence for h in found]
        right += [h.case_id == person for h in found]
    conf, right = np.array(conf), np.array(right)
    assert expected_calibration_error(conf, right) < 0.02
    assert right[conf >= 0.5].mean() > 0.95
    mid = (conf >= 0.1) & (conf < 0.9)
    assert right[mid].mean() >= conf[mid].mean() - 0.15  # not overconfident in the middle
