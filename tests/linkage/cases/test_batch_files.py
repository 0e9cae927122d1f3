"""`caselink link --ray-address`'s inputs: batch files checked by the driver one at a time and
sent through Ray's object store as their bytes; the run's task decodes the same batches."""

from __future__ import annotations

import numpy as np
import pytest

import bloom
from linkage._batch_files import BatchFiles


def _in_a_task(inputs: BatchFiles):
    import ray

    @ray.remote(num_cpus=1)
    def load(inputs: BatchFiles):
        batches, state = inputs.load()
        return [(b.metadata.agency, b.record_refs, b.filters) for b in batches], state

    return ray.get(load.remote(inputs))


def test_a_task_decodes_the_batches_the_driver_put_in_their_order(
    tmp_path, febrl4_batches, ray_session
):
    a, b = febrl4_batches
    paths = [b.write(tmp_path / "b.parquet"), a.write(tmp_path / "a.parquet")]
    inputs = BatchFiles.put(paths)
    assert inputs.names == ("b.parquet", "a.parquet")
    loaded, state = _in_a_task(inputs)
    assert state is None
    for (agency, refs, filters), want in zip(loaded, (b, a), strict=True):
        assert agency == want.metadata.agency
        assert list(refs) == list(want.record_refs)
        assert np.array_equal(filters, want.filters)


def test_a_bad_file_is_refused_by_the_driver_naming_it_before_anything_is_sent(
    tmp_path, febrl4_batches, ray_session
):
    a, _ = febrl4_batches
    good = a.write(tmp_path / "a.parquet")
    bad = tmp_path / "b.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(bloom.BatchError, match=r"b\.parquet"):
        BatchFiles.put([good, bad])
