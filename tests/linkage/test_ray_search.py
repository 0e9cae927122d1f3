"""The run's candidate search as Ray tasks (`RaySearch`): the same pairs, cases and
confidence as the search in one process, within the run's limits."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import bloom
import linkage
from blocking import BlockingError, plan_segments
from evaluation import generate_synthetic
from linkage import RaySearch, search
from linkage._features import segment_words
from linkage._ray_search import deal, task_bytes, windows


@pytest.fixture(scope="module")
def namesakes(person_schema, secret):
    """1,200 people held by two agencies, every name from its list's 8 most frequent."""
    data = generate_synthetic(1200, 2, overlap=0.8, seed=11, common_names=8)
    batches = [
        bloom.encode(df, person_schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    segments = [tuple(map(int, s)) for s in segment_words(batches[0].metadata)]
    return batches, segments


def assert_same(got, want) -> None:
    np.testing.assert_array_equal(got.i, want.i)
    np.testing.assert_array_equal(got.j, want.j)
    np.testing.assert_array_equal(got.score, want.score)


def test_lsh_bands_walked_as_tasks_give_the_pairs_of_one_process(ray_session, namesakes):
    (a_batch, b_batch), segments = namesakes
    a, b = a_batch.filters, b_batch.filters
    here = search(a, b, 0.55, 10, method="lsh", segments=segments)
    assert len(here) > 5000
    tiny = RaySearch(tasks_per_cpu=5, max_table_bytes=170 * 10 * 16, max_bytes_in_flight=1)
    for executor in (RaySearch(), tiny):  # tiny: 8 windows of rows x 2 shares of the bands
        there = search(a, b, 0.55, 10, method="lsh", segments=segments, executor=executor)
        assert_same(there, here)


def test_the_exhaustive_search_as_tasks_gives_the_pairs_of_one_process(ray_session, namesakes):
    (a_batch, b_batch), _ = namesakes
    a, b = a_batch.filters[:300], b_batch.filters[:500]
    here = search(a, b, 0.6, 5, method="exhaustive")
    there = search(a, b, 0.6, 5, method="exhaustive", executor=RaySearch(niceness=3))
    assert_same(there, here)


def _partition(df) -> set[frozenset]:
    return set(
        df.groupby("case_id")[["agency", "record_ref"]].apply(
            lambda g: frozenset(zip(g["agency"], g["record_ref"], strict=True))
        )
    )


def test_a_link_through_lsh_on_ray_gives_the_cases_of_one_process(ray_session, namesakes):
    batches, segments = namesakes
    local = functools.partial(search, method="lsh", segments=segments)
    on_ray = functools.partial(local, executor=RaySearch())
    here = linkage.plan_link(batches, find=local)
    there = linkage.plan_link(batches, find=on_ray)
    assert (there.pairs_scored, there.links_accepted) == (here.pairs_scored, here.links_accepted)
    assert here.links_accepted > 700
    pd.testing.assert_frame_equal(
        there.assignments.drop(columns="case_id"), here.assignments.drop(columns="case_id")
    )
    assert _partition(there.assignments) == _partition(here.assignments)


def test_a_run_task_holding_every_cpu_still_gets_its_search_tasks_run(ray_session, namesakes):
    """The run's task takes both CPUs of this Ray and then starts search tasks: it gives its
    CPUs back while it waits for them (no deadlock), and the cases are those in process."""
    batches, _ = namesakes
    small = [bloom.EncodedBatch(b.record_refs[:400], b.filters[:400], b.metadata) for b in batches]
    here = linkage.plan_link(small)
    there = linkage.ray_plan_link(small, num_cpus=2, search="tasks", niceness=2)
    assert there.links_accepted == here.links_accepted > 100
    assert _partition(there.assignments) == _partition(here.assignments)
    with pytest.raises(linkage.LinkageError, match="search must be one of"):
        linkage.ray_plan_link(small, search="everywhere")
    with pytest.raises(linkage.LinkageError, match="executor"):
        linkage.ray_plan_link(small, executor=RaySearch())
    with pytest.raises(linkage.LinkageError, match="find and executor"):
        linkage.plan_link(small, find=search, executor=RaySearch())


def test_a_search_past_the_memory_budget_fails_with_the_reason_before_any_task(
    ray_session, namesakes
):
    """What a task needs is known from the sizes: past the budget the search fails as
    RunMemoryError naming it, before a task starts (a Ray worker under a kernel limit dies
    instead of failing cleanly); within it, the search runs."""
    (a_batch, b_batch), segments = namesakes
    a, b = a_batch.filters, b_batch.filters
    plans = plan_segments(a, b, segments, 0.8, 0.99)
    need = task_bytes(len(a), len(b), plans, 10, len(a))
    assert 1200 * 10 * 16 < need < 2**30  # the tables and the keys of a group of bands
    assert need > 0.0001 * 2**30
    with pytest.raises(linkage.RunMemoryError, match=r"memory budget of 0\.0001 GiB"):
        search(
            a, b, 0.55, 10, method="lsh", segments=segments, executor=RaySearch(memory_gib=0.0001)
        )
    here = search(a, b, 0.55, 10, method="lsh", segments=segments)
    enough = RaySearch(memory_gib=need / 2**30 + 0.001)
    there = search(a, b, 0.55, 10, method="lsh", segments=segments, executor=enough)
    assert_same(there, here)


def test_bad_walk_parameters_are_refused_before_any_task(ray_session, namesakes):
    """Every walk task would refuse the bucket cap; the caller runs the same checks first, so
    the error is blocking's own, not one passed through a tree of folds (where Ray could not
    even rebuild it: found by this test)."""
    (a_batch, b_batch), segments = namesakes
    a, b = a_batch.filters[:300], b_batch.filters[:300]
    plans = plan_segments(a, b, segments, 0.8, 0.99)
    with pytest.raises(BlockingError, match="bucket_cap"):
        RaySearch(tasks_per_cpu=3).top_k(a, b, plans, 3, 0.5, bucket_cap=0)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"tasks_per_cpu": 0}, "tasks_per_cpu"),
        ({"max_bytes_in_flight": 0.5}, "max_bytes"),
        ({"max_table_bytes": 0}, "max_table_bytes"),
        ({"niceness": 20}, "niceness"),
        ({"memory_gib": 0}, "memory_gib"),
    ],
)
def test_bad_settings_are_named(kwargs, named):
    with pytest.raises(linkage.LinkageError, match=named):
        RaySearch(**kwargs)


def test_rows_are_cut_into_windows_whose_tables_fit():
    assert windows(10, 2, 3 * 2 * 16) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert windows(10, 2, 10**9) == [(0, 10)]
    assert windows(10, 2, 1) == [(i, i + 1) for i in range(10)]
    assert windows(1_600_000, 10, 256 * 2**20) == [(0, 1_600_000)]


def test_bands_are_dealt_round_robin_into_non_empty_shares():
    units = [(p, band) for p in range(2) for band in range(5)]
    shares = deal(units, 4)
    assert [len(s) for s in shares] == [3, 3, 2, 2]
    assert sorted(u for s in shares for u in s) == units
    assert {p for p, _ in shares[0]} == {0, 1}  # each share has bands of both plans
    assert deal(units, 50) == [[u] for u in units]
    assert deal([], 3) == [[]]
