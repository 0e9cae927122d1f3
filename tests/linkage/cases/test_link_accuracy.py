"""Accuracy and calibration on real data (FEBRL), labels used only to score the result."""

import numpy as np

from evaluation._metrics import expected_calibration_error, pairwise_scores
from linkage._link import link

from .conftest import encode_all, entity_of


def test_febrl4_two_agencies_f1_at_auto_threshold(febrl4_report):
    a = febrl4_report.assignments
    assert len(a) == 10_000 and a["case_id"].notna().all()
    scores = pairwise_scores(a["case_id"].to_numpy(), entity_of(a["record_ref"]))
    assert scores.f1 >= 0.999, scores
    # one-to-one: no case holds two records of one agency
    assert a.groupby(["case_id", "agency"]).size().max() == 1


def test_febrl4_confidence_is_calibrated(febrl4_report):
    """Among links reported at about p, about p are true (ECE over every reported link)."""
    a = febrl4_report.assignments
    linked = a[a.groupby("case_id")["case_id"].transform("size") == 2]
    truth = linked.groupby("case_id")["record_ref"].transform(
        lambda refs: refs.str.split("-").str[1].nunique() == 1
    )
    assert expected_calibration_error(linked["confidence"], truth) <= 0.03
    assert ((a["confidence"] >= 0) & (a["confidence"] <= 1)).all()


def test_febrl3_three_agencies_one_record_per_person(febrl3_split, febrl_schema, secret):
    data = febrl3_split["one"]
    a = link(encode_all(data, febrl_schema, secret)).assignments
    m = a.merge(data.truth, on=["agency", "record_ref"])
    assert pairwise_scores(m["case_id"].to_numpy(), m["entity_id"].to_numpy()).f1 >= 0.99
    assert a.groupby(["case_id", "agency"]).size().max() == 1


def test_febrl3_three_agencies_with_duplicates(febrl3_split, febrl_schema, secret):
    data = febrl3_split["dup"]
    report = link(encode_all(data, febrl_schema, secret), allow_duplicates_within_agency=True)
    m = report.assignments.merge(data.truth, on=["agency", "record_ref"])
    assert pairwise_scores(m["case_id"].to_numpy(), m["entity_id"].to_numpy()).f1 >= 0.97
    assert report.assignments.groupby(["case_id", "agency"]).size().max() > 1


def test_linking_is_deterministic_up_to_fresh_ids(febrl3_split, febrl_schema, secret):
    batches = encode_all(febrl3_split["one"], febrl_schema, secret)
    first = link(batches).assignments
    second = link(batches).assignments
    part = lambda df: set(map(frozenset, df.groupby("case_id")["record_ref"].agg(list)))  # noqa: E731
    assert part(first) == part(second)
    assert np.allclose(first["confidence"], second["confidence"])


def test_ray_executor_gives_the_same_cases(febrl4_batches, febrl4_report, ray_session):
    from linkage._ray import ray_candidates

    local = febrl4_report.assignments
    on_ray = link(list(febrl4_batches), find=ray_candidates).assignments
    part = lambda df: set(map(frozenset, df.groupby("case_id")["record_ref"].agg(list)))  # noqa: E731
    assert part(local) == part(on_ray)
    assert np.allclose(local["confidence"], on_ray["confidence"])


def test_synthetic_humanitarian_registrations_with_the_person_schema(person_schema, secret):
    """Transliterations, swapped names, estimated dates: the shipped schema out of the box."""
    import bloom
    from evaluation import generate_synthetic

    data = generate_synthetic(5000, 3, seed=11)
    batches = [
        bloom.encode(df, person_schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    m = link(batches).assignments.merge(data.truth, on=["agency", "record_ref"])
    scores = pairwise_scores(m["case_id"].to_numpy(), m["entity_id"].to_numpy())
    assert scores.f1 >= 0.975, scores  # one filter field per column (anonlink-style): 0.84
