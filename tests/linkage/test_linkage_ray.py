"""The Ray executor returns exactly what the single-process path returns."""

from __future__ import annotations

import numpy as np
import pytest

import linkage
from linkage import _ray


def assert_same(got: linkage.CandidatePairs, want: linkage.CandidatePairs) -> None:
    np.testing.assert_array_equal(got.i, want.i)
    np.testing.assert_array_equal(got.j, want.j)
    np.testing.assert_array_equal(got.score, want.score)


@pytest.mark.parametrize("k", [None, 2])
def test_ray_matches_single_process(ray_session, make_filters, k):
    a, b = make_filters(31, 2500, 1500, 16)
    want = linkage.candidates(a, b, 0.55, k, threads=1)
    assert len(want) > 500
    progress: list[tuple[int, int]] = []
    got = linkage.ray_candidates(
        a, b, 0.55, k, chunk_rows=400, max_pending=2, on_progress=lambda *p: progress.append(p)
    )
    assert_same(got, want)
    assert len(progress) == 7  # ceil(2500 / 400) chunks
    assert [total for _, total in progress] == [2500] * 7
    done = [d for d, _ in progress]
    assert done == sorted(done) and done[-1] == 2500


def test_ray_with_one_row_and_default_chunks(ray_session, make_filters):
    a, b = make_filters(32, 1, 300, 3)
    b[7] = a[0]
    want = linkage.candidates(a, b, 0.9, threads=1)
    assert 7 in want.j
    assert_same(linkage.ray_candidates(a, b, 0.9), want)


def test_ensure_ray_is_lean_and_idempotent(ray_session):
    import ray

    assert ray.cluster_resources()["CPU"] == 2
    assert linkage.ensure_ray() is False  # already running: nothing restarted
    if not ray_session.started:
        pytest.skip("Ray was started outside this fixture")
    assert ray_session.sigterm_kept


def test_ray_bad_input_is_rejected_before_any_task():
    a = np.zeros((2, 1), np.uint64)
    with pytest.raises(linkage.LinkageError, match="chunk_rows must be a whole number"):
        linkage.ray_candidates(a, a, 0.5, chunk_rows=0)
    with pytest.raises(linkage.LinkageError, match="max_pending must be a whole number"):
        linkage.ray_candidates(a, a, 0.5, max_pending=-1)
    with pytest.raises(linkage.LinkageError, match=r"\bb is empty"):
        linkage.ray_candidates(a, a[:0], 0.5)


def test_ensure_ray_refuses_sizes_for_a_cluster():
    with pytest.raises(linkage.LinkageError, match="apply only to a local Ray"):
        linkage.ensure_ray("10.0.0.1:6379", num_cpus=2)
    with pytest.raises(linkage.LinkageError, match="num_cpus must be a whole number"):
        linkage.ensure_ray(num_cpus=0)


def test_cluster_address_comes_from_the_argument_or_the_environment(monkeypatch):
    monkeypatch.delenv(_ray.ADDRESS_ENV, raising=False)
    assert _ray._resolve_address(None) is None
    monkeypatch.setenv(_ray.ADDRESS_ENV, "head:6379")
    assert _ray._resolve_address(None) == "head:6379"
    assert _ray._resolve_address("auto") == "auto"
