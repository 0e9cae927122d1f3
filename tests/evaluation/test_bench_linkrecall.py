"""The scale bench's comparison with an exhaustive search: the sampled records get exactly
the exhaustive best k, the others the run's search; the comparison is exact where the two
searches are the same."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation._bench_linkrecall import SampleFinder, against_exhaustive
from evaluation._bench_linkscale import partner_rows, scale_register
from linkage import candidates, plan_link, search


@pytest.fixture(scope="module")
def register():
    """3,000 common-name people in two agencies: the data and its batches (read only)."""
    return scale_register(3000, "common", seed=3)


@pytest.fixture(scope="module")
def run(register):
    """The run's own link of the register: below the exhaustive limit, its search is
    exhaustive."""
    return plan_link(register[1])


@pytest.fixture(scope="module")
def sample(register, run):
    """Every fifth record of A, its true partners' rows in B, and the comparison of the run's
    cases with the exhaustive pipeline's on them."""
    data, batches = register
    rows = np.arange(0, len(batches[0]), 5)
    truth_b = partner_rows(data.truth, *batches)
    return rows, truth_b, against_exhaustive(batches, run.assignments, rows, truth_b)


def _set(i: np.ndarray, j: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(i.tolist(), j.tolist(), strict=True))


def test_sampled_rows_get_the_exhaustive_best_k_and_the_others_the_search(register):
    _, (a, b) = register
    rows = np.arange(0, len(a), 7)
    finder = SampleFinder(a, b, rows, method="lsh")
    segments = finder.segments
    got = finder(a.filters, b.filters, 0.55, 10)
    lsh = search(a.filters, b.filters, 0.55, 10, method="lsh", segments=segments)
    exact = candidates(a.filters[rows], b.filters, 0.55, 10)
    sampled = np.isin(got.i, rows)
    assert _set(got.i[sampled], got.j[sampled]) == _set(rows[exact.i], exact.j)
    others = ~np.isin(lsh.i, rows)
    assert _set(got.i[~sampled], got.j[~sampled]) == _set(lsh.i[others], lsh.j[others])
    assert np.all(np.diff(got.i) >= 0)  # sorted by row, as a search returns them
    # the search differs from the exhaustive one on these namesakes: the test has teeth
    lsh_sampled = np.isin(lsh.i, rows)
    assert _set(lsh.i[lsh_sampled], lsh.j[lsh_sampled]) != _set(rows[exact.i], exact.j)
    # another pair of arrays (B against A, say) is searched as asked, untouched
    other = finder(b.filters, a.filters, 0.55, 10)
    again = search(b.filters, a.filters, 0.55, 10, method="lsh", segments=segments)
    assert np.array_equal(other.i, again.i) and np.array_equal(other.j, again.j)


def test_where_the_run_is_exhaustive_the_run_and_the_exhaustive_pipeline_agree(sample):
    _, _, out = sample
    assert out["recall_of_exhaustive_pairs"] == out["same_best_candidate"] == 1.0
    assert out["links_of_exhaustive_made_by_run"] == out["links_of_run_made_by_exhaustive"] == 1.0
    assert out["sample_links_run"] == out["sample_links_exhaustive"] > 0
    assert out["sample_precision_run"] == out["sample_precision_exhaustive"] > 0.8
    assert out["true_partner_scored"] > 0
    assert 0 <= out["true_partner_matched_or_beaten_by_another"] < 0.5


def test_links_the_run_missed_lower_its_recall_of_the_exhaustive_links(register, run, sample):
    _, batches = register
    rows, truth_b, full = sample
    linked_a = run.assignments[run.assignments["agency"] == batches[0].metadata.agency]
    cases = run.assignments.copy()
    # the run "missed" every link of the first 40 sampled records: each its own case
    missed = set(batches[0].record_refs[rows[:40]])
    lonely = cases["record_ref"].isin(missed) & (cases["agency"] == batches[0].metadata.agency)
    cases.loc[lonely, "case_id"] = [f"alone-{n}" for n in range(int(lonely.sum()))]
    out = against_exhaustive(batches, cases, rows, truth_b)
    assert len(linked_a) == len(batches[0])
    assert out["links_of_run_made_by_exhaustive"] == 1.0  # what it made is still right
    assert out["links_of_exhaustive_made_by_run"] < full["links_of_exhaustive_made_by_run"]
    assert out["sample_links_run"] < full["sample_links_run"]
    assert out["sample_links_exhaustive"] == full["sample_links_exhaustive"]
