"""The compiled clustering, case assignment and removal match the Python code they replaced.

The references are verbatim copies of the old modules (``_cluster_reference.py``,
``_removal_reference.py``); hypothesis draws registers with any number of agencies (beyond
64), existing cases, links with tied probabilities and thresholds, and every output must be
equal: labels, case ids, merges (and their order), new cases, confidence, case confidence.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage import LinkageError, is_valid_case_id
from linkage._caseid import _format, _format_many, new_case_ids
from linkage._cluster import assign_cases, cluster
from linkage._registry import Registry, cases_table
from linkage._removal import Removal, components, confidence
from tests.linkage import _cluster_reference as ref
from tests.linkage import _removal_reference as ref_removal
from tests.service.lifecycle.conftest import planted_update

TIED = [0.0, 0.2, 0.5, 0.5000001, 0.7, 0.9, 1.0]  # few values: many ties in p


@st.composite
def registers(draw, max_records: int = 40, max_links: int = 120):
    """(agency codes, existing labels, old case ids, case_seq, a, b, p, threshold)."""
    n = draw(st.integers(1, max_records))
    n_agencies = draw(st.sampled_from([1, 2, 3, 5, 64, 65, 130, 300]))
    agency = np.array(draw(st.lists(st.integers(0, n_agencies - 1), min_size=n, max_size=n)))
    existing = np.array(draw(st.lists(st.integers(-1, 6), min_size=n, max_size=n)))
    m = draw(st.integers(0, max_links))
    ends = st.lists(st.integers(0, n - 1), min_size=m, max_size=m)
    a, b = np.array(draw(ends), dtype=np.int64), np.array(draw(ends), dtype=np.int64)
    probs = st.sampled_from(TIED) | st.floats(0.0, 1.0)
    p = np.array(draw(st.lists(probs, min_size=m, max_size=m)), dtype=np.float64)
    threshold = draw(st.sampled_from([0.0, 0.5, 0.7, 1.0]) | st.floats(0.01, 1.0))
    return agency, existing, a, b, p, threshold


def _old_ids(draw, existing: np.ndarray, consistent: bool) -> tuple[np.ndarray, dict]:
    """Old case ids (one per existing label, or drawn freely with blanks) and their seq."""
    names = ["CL-B", "CL-A", "CL-C", "CL-AA", "CL-D", "CL-E", "CL-F"]
    if consistent:
        ids = [names[x] if x >= 0 else None for x in existing.tolist()]
    else:
        choice = st.sampled_from([None, "", *names])
        ids = draw(st.lists(choice, min_size=len(existing), max_size=len(existing)))
    seq = draw(st.dictionaries(st.sampled_from(names), st.integers(0, 3)))  # ties, gaps
    return np.array(ids, dtype=object), seq


def _counter():
    count = itertools.count()
    return lambda: f"NEW-{next(count)}"


def _assert_same(old, new) -> None:
    assert new.case_ids.tolist() == old.case_ids.tolist()
    assert np.array_equal(new.confidence, old.confidence)
    assert list(new.case_confidence.items()) == list(old.case_confidence.items())
    assert new.new_cases == old.new_cases
    assert list(new.merges.items()) == list(old.merges.items())


@settings(max_examples=300, deadline=None)
@given(registers(), st.booleans())
def test_cluster_labels_equal_the_reference(reg, allow):
    agency, existing, a, b, p, t = reg
    want = ref.cluster(agency, existing, a, b, p, t, allow_duplicates_within_agency=allow)
    got = cluster(agency, existing, a, b, p, t, allow_duplicates_within_agency=allow)
    assert got.dtype == np.int64
    assert got.tolist() == want.tolist()


@settings(max_examples=300, deadline=None)
@given(registers(), st.booleans(), st.booleans(), st.data())
def test_case_assignment_equals_the_reference(reg, allow, consistent, data):
    agency, existing, a, b, p, t = reg
    labels = ref.cluster(agency, existing, a, b, p, t, allow_duplicates_within_agency=allow)
    olds, seq = _old_ids(data.draw, existing, consistent)
    want = ref.assign_cases(labels, olds, seq, (a, b, p), _counter())
    _assert_same(want, assign_cases(labels, olds, seq, (a, b, p), _counter()))
    in_bulk = assign_cases(
        labels, olds, seq, (a, b, p), new_ids=lambda k: [f"NEW-{i}" for i in range(k)]
    )
    _assert_same(want, in_bulk)


def test_agencies_past_64_are_told_apart():
    """Codes 6, 70 and 134 would share a bit in one uint64 word: they are three agencies."""
    agency = np.array([6, 70, 134, 70])
    a, b, p = np.array([0, 1, 1]), np.array([1, 2, 3]), np.array([0.9, 0.8, 0.7])
    labels = cluster(agency, np.full(4, -1), a, b, p, 0.5)
    assert labels.tolist() == [0, 0, 0, 3]  # record 3 is a second record of agency 70
    assert labels.tolist() == ref.cluster(agency, np.full(4, -1), a, b, p, 0.5).tolist()


def test_links_to_no_record_are_refused():
    with pytest.raises(LinkageError, match="edge_b"):
        cluster(
            np.zeros(3, np.int64),
            np.full(3, -1),
            np.array([0]),
            np.array([3]),
            np.array([0.9]),
            0.5,
        )


def test_a_few_hundred_thousand_links_give_the_reference_result():
    rng = np.random.default_rng(13)
    n, m = 100_000, 300_000
    agency = rng.integers(0, 6, n)
    existing = np.where(rng.random(n) < 0.4, rng.integers(0, 30_000, n), -1)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    p = np.round(rng.random(m), 3)  # ties
    want = ref.cluster(agency, existing, a, b, p, 0.5)
    got = cluster(agency, existing, a, b, p, 0.5)
    assert np.array_equal(got, want)
    olds = np.array([f"CL-{x:05d}" if x >= 0 else None for x in existing.tolist()], object)
    seq = {f"CL-{x:05d}": int(s) for x, s in enumerate(rng.integers(0, 1000, 30_000))}
    _assert_same(
        ref.assign_cases(want, olds, seq, (a, b, p), _counter()),
        assign_cases(got, olds, seq, (a, b, p), _counter()),
    )


# -- bulk case ids ---------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, (1 << 40) - 1), max_size=50))
def test_bulk_formatting_writes_each_id_as_new_case_id_does(values):
    arr = np.array(values, dtype=np.uint64)
    assert _format_many(arr).tolist() == [_format(v) for v in values]


def test_bulk_ids_are_valid_distinct_seeded_and_avoid_known_ones():
    ids = new_case_ids(20_000)
    assert len(set(ids.tolist())) == 20_000 and all(is_valid_case_id(c) for c in ids[:500])
    seeded = new_case_ids(50, rand=7)
    assert seeded.tolist() == new_case_ids(50, rand=7).tolist()
    avoided = new_case_ids(50, rand=7, avoid=set(seeded[:10]) | {"CASE-1"})
    assert not set(avoided.tolist()) & set(seeded[:10].tolist())
    assert avoided[:40].tolist() == seeded[10:].tolist()  # the same draw, known ones skipped
    assert new_case_ids(0).tolist() == []


def test_without_a_drawer_new_cases_get_fresh_ids():
    labels = np.array([0, 0, 2])
    r = assign_cases(
        labels,
        np.array([None, None, "CL-X"], object),
        {},
        (np.array([0]), np.array([1]), np.array([0.9])),
    )
    assert len(r.new_cases) == 1 and is_valid_case_id(r.new_cases[0])
    assert r.case_ids.tolist() == [r.new_cases[0], r.new_cases[0], "CL-X"]


# -- removal ----------------------------------------------------------------------------------
@st.composite
def remainders(draw):
    """Record ids, their cases, links among them and to others, and a threshold."""
    ids = np.array(draw(st.lists(st.integers(0, 60), max_size=30, unique=True)), np.int64)
    cases = np.array(
        [f"K{x}" for x in draw(st.lists(st.integers(0, 4), min_size=len(ids), max_size=len(ids)))],
        object,
    )
    m = draw(st.integers(0, 80 if len(ids) else 0))
    ends = st.lists(st.integers(0, 70), min_size=m, max_size=m)
    a, b = np.array(draw(ends), np.int64), np.array(draw(ends), np.int64)
    p = np.array(draw(st.lists(st.sampled_from(TIED), min_size=m, max_size=m)))
    return ids, cases, (a, b, p), draw(st.sampled_from([None, 0.5, 0.9]))


@settings(max_examples=300, deadline=None)
@given(remainders())
def test_removal_components_and_confidence_equal_the_reference(case):
    ids, cases, (a, b, p), threshold = case
    want = ref_removal.components(ids, a, b, p, threshold)
    got = components(ids, a, b, p, threshold)
    assert [x.tolist() for x in got] == [x.tolist() for x in want]
    label_of = dict(zip(ids.tolist(), cases.tolist(), strict=True))
    size_of = {c: int(np.sum(cases == c)) for c in set(cases.tolist())}
    sizes = np.array([size_of[c] for c in cases.tolist()], dtype=np.int64)
    want_conf = ref_removal.confidence(ids, label_of, size_of, (a, b, p))
    assert np.array_equal(confidence(ids, cases, sizes, (a, b, p)), want_conf)


@st.composite
def stored_registers(draw):
    """Records (agency, ref, case), distinct links between them, records to remove."""
    n = draw(st.integers(1, 14))
    cases = draw(
        st.lists(st.sampled_from(["CL-P", "CL-Q", "CL-R", "CL-S"]), min_size=n, max_size=n)
    )
    agencies = draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n))
    records = [(ag, f"r{i}", c) for i, (ag, c) in enumerate(zip(agencies, cases, strict=True))]
    pairs = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30, unique=True)
    )
    links = [(x, y, draw(st.sampled_from(TIED))) for x, y in pairs if x < y]
    gone = draw(st.lists(st.integers(0, n + 1), min_size=1, max_size=4, unique=True))
    return records, links, [("a" if i >= n else records[i][0], f"r{i}") for i in gone]


def _outcome(reg: Registry, report, before: set[str]):
    """The registry and report with new case ids replaced by their issue order."""
    k = cases_table.c
    with reg.engine.connect() as c:
        rows = c.execute(sa.select(k.case_id, k.seq, k.confidence).where(k.scope == reg.scope))
        seq, conf = {}, {}
        for x in rows:
            seq[x.case_id], conf[x.case_id] = x.seq, x.confidence

    def name(cid: str) -> str:
        return cid if cid in before else f"new-{seq[cid]}"

    records = {
        (r.agency, r.record_ref): (name(r.case_id), r.confidence)
        for r in reg.assignments().itertuples()
    }
    remainders = {
        cid: (r.records, r.agencies, tuple(name(s) for s in r.split_off))
        for cid, r in report.cases.items()
    }
    cases = {name(cid): v for cid, v in conf.items()}
    return (
        records,
        cases,
        list(remainders.items()),
        report.removed.to_dict("records"),
        report.missing,
        report.updated,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored_registers(), st.sampled_from([None, 0.5, 0.9]))
def test_a_removal_leaves_what_the_reference_leaves(planted, threshold):
    records, links, gone = planted
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp:
        for removal in (ref_removal.Removal, Removal):
            reg = Registry.open(Path(tmp) / f"{removal.__module__}.sqlite")
            reg.apply(planted_update(records, links))
            with reg.engine.begin() as c:
                report = removal(reg.scope, c).run(gone, threshold)
            outcomes.append(_outcome(reg, report, {c for _, _, c in records}))
            reg.engine.dispose()
    assert outcomes[1] == outcomes[0]


def test_the_clustering_bench_runs_at_a_tiny_size():
    from evaluation._bench_cluster import bench_clustering, synthetic_links

    data = synthetic_links(300, 1800)
    held = data["existing"] >= 0
    assert (data["old_case_ids"][held] == [f"CL-{x:08d}" for x in data["existing"][held]]).all()
    assert (data["old_case_ids"][~held] == None).all()  # noqa: E711 - elementwise
    figures = bench_clustering(n=300, links=1800, repeats=1)
    assert figures["records"] == 300 and figures["links"] == 1800
    assert {"cluster_seconds", "assign_cases_seconds", "load_average_1min"} <= set(figures)
