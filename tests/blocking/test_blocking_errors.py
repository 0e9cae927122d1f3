"""Bad input is refused with a BlockingError (an InputError, so a ValueError) naming each bad
parameter."""

from __future__ import annotations

import numpy as np
import pytest

import blocking
from blocking import BlockingError, LshParams, lsh_candidates, lsh_params, plan_lsh
from caselink_errors import CaselinkError, InputError

GOOD = np.ones((3, 16), dtype=np.uint64)
PARAMS = LshParams("minhash", bands=2, rows_per_band=2, seed=0)


def refused(call, *names: str) -> BlockingError:
    with pytest.raises(BlockingError) as info:
        call()
    assert isinstance(info.value, ValueError) and isinstance(info.value, InputError)
    assert isinstance(info.value, CaselinkError) and info.value.http_status == 422
    assert list(info.value.parameters) == list(names)
    assert [p.split(":")[0] for p in info.value.problems] == list(names)  # one each, named
    assert info.value.parameter == names[0]
    for name in names:
        assert name in str(info.value)
    return info.value


@pytest.mark.parametrize("threshold", [0.0, -0.2, 1.01, float("nan"), "0.8"])
def test_threshold_outside_zero_one(threshold) -> None:
    err = refused(lambda: lsh_params(threshold), "threshold")
    assert "(0, 1]" in str(err)


@pytest.mark.parametrize("recall", [0.0, 1.0, 1.5, -1.0, float("nan")])
def test_recall_outside_open_unit_interval(recall) -> None:
    refused(lambda: lsh_params(0.8, recall), "recall")


def test_every_problem_reported_at_once() -> None:
    refused(
        lambda: lsh_params(2.0, 1.0, scheme="bits", n_a=0, max_density=1.5),
        "threshold",
        "recall",
        "scheme",
        "max_density",
        "n_a",
    )


def test_threshold_too_low_for_any_plan_says_what_to_do() -> None:
    err = refused(lambda: lsh_params(0.001, max_bands=100), "threshold")
    assert "choose_method" in str(err)


def test_rows_per_band_out_of_range() -> None:
    refused(lambda: lsh_params(0.8, rows_per_band=65), "rows_per_band")


def test_mismatched_word_counts() -> None:
    narrow = np.ones((3, 8), dtype=np.uint64)
    err = refused(lambda: lsh_candidates(GOOD, narrow, PARAMS).pairs, "b")
    assert "8 words" in str(err) and "16" in str(err)


def test_params_planned_for_other_width() -> None:
    narrow = np.ones((3, 8), dtype=np.uint64)
    refused(lambda: lsh_candidates(narrow, narrow, PARAMS).pairs, "params.words")


@pytest.mark.parametrize("side", ["a", "b"])
def test_empty_input(side: str) -> None:
    empty = np.empty((0, 16), dtype=np.uint64)
    a, b = (empty, GOOD) if side == "a" else (GOOD, empty)
    err = refused(lambda: lsh_candidates(a, b, PARAMS).pairs, side)
    assert "empty" in str(err)


@pytest.mark.parametrize(
    "bad", [np.ones((3, 16), dtype=np.int64), np.ones(16, dtype=np.uint64), [[1, 2]], None]
)
def test_not_a_uint64_filter_matrix(bad) -> None:
    refused(lambda: lsh_candidates(bad, GOOD, PARAMS).pairs, "a")


def test_both_sides_bad_reported_together() -> None:
    empty = np.empty((0, 16), dtype=np.uint64)
    refused(lambda: plan_lsh(empty, empty, 0.8), "a", "b")


def test_bucket_cap_must_be_positive() -> None:
    refused(lambda: lsh_candidates(GOOD, GOOD, PARAMS, max_bucket_pairs=0), "max_bucket_pairs")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("scheme", {"scheme": "simhash"}),
        ("bands", {"bands": 0}),
        ("rows_per_band", {"rows_per_band": 0}),
        ("seed", {"seed": -1}),
        ("words", {"words": 0}),
        ("bands", {"bands": 2.5}),
    ],
)
def test_bad_lsh_params(field: str, kwargs: dict) -> None:
    args = {"scheme": "minhash", "bands": 2, "rows_per_band": 2, "seed": 0} | kwargs
    refused(lambda: LshParams(**args), field)


def test_choose_method_refuses_unknown_method_and_negative_sizes() -> None:
    refused(lambda: blocking.choose_method(-1, 5, method="fast"), "n_a", "method")


def test_report_refuses_out_of_range_pairs() -> None:
    ok = (np.array([0]), np.array([0]))
    refused(
        lambda: blocking.blocking_report((np.array([3]), np.array([0])), ok, 3, 3),
        "candidate_pairs",
    )
    refused(
        lambda: blocking.blocking_report(ok, (np.array([0, 1]), np.array([0])), 3, 3),
        "exhaustive_pairs",
    )
    refused(lambda: blocking.blocking_report(ok, ok, 0, 3), "n_a")
