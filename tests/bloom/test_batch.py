import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import bloom


def test_round_trip_and_plain_pandas(tmp_path, people, person_schema, secret):
    b = bloom.encode(people, person_schema, secret, agency="unhcr", id_column="ref")
    path = b.write(tmp_path / "b.parquet")
    back = bloom.read_batch(path)
    assert np.array_equal(back.filters, b.filters)
    assert list(back.record_refs) == ["p1", "p2", "p3", "p4"]
    m = back.metadata
    assert m.agency == "unhcr" and m.record_count == 4
    assert m.filter_bits == person_schema.filter_bits
    assert m.schema_fingerprint == person_schema.fingerprint
    assert m.segments == tuple((s.name, s.out_bits) for s in person_schema.segments)
    assert m.content_hash == b.metadata.content_hash
    plain = pd.read_parquet(path)
    assert list(plain.columns) == ["record_ref", "bloom"]
    assert plain["bloom"].map(len).eq(person_schema.filter_bits // 8).all()
    word0 = int.from_bytes(plain["bloom"][0][:8], "little")
    assert word0 == int(b.filters[0, 0])  # bit p is bit p % 8 of byte p // 8
    assert b"caselink" in pq.read_metadata(path).metadata


def test_a_batch_reads_the_same_from_its_bytes(tmp_path, people, person_schema, secret):
    b = bloom.encode(people, person_schema, secret, agency="unhcr", id_column="ref")
    path = b.write(tmp_path / "b.parquet")
    raw = path.read_bytes()
    from_file, from_bytes = bloom.read_batch(path), bloom.read_batch(raw)
    assert np.array_equal(from_bytes.filters, from_file.filters)
    assert list(from_bytes.record_refs) == list(from_file.record_refs)
    assert from_bytes.metadata == from_file.metadata
    with pytest.raises(bloom.BatchError, match="the batch is not a Parquet file"):
        bloom.read_batch(raw[: len(raw) // 2])
    flipped = bytearray(raw)
    flipped[raw.index(b.filters[1].tobytes()[:8])] ^= 0xFF  # one filter byte altered
    with pytest.raises(bloom.BatchError, match="content_hash does not match"):
        bloom.read_batch(bytes(flipped))


def test_streamed_csv_equals_in_memory_encoding(tmp_path, febrl4, febrl_schema, secret):
    df = febrl4.a.iloc[:3000]
    df.to_csv(tmp_path / "a.csv", index=False)
    report = bloom.encode_csv(
        tmp_path / "a.csv",
        febrl_schema,
        secret,
        agency="a",
        out=tmp_path / "a.parquet",
        id_column="record_ref",
        chunk_bytes=1 << 16,
    )
    assert report.records == 3000
    streamed = bloom.read_batch(tmp_path / "a.parquet")
    memory = bloom.encode(df, febrl_schema, secret, agency="a", id_column="record_ref")
    assert np.array_equal(streamed.filters, memory.filters)
    assert list(streamed.record_refs) == list(df["record_ref"])
    assert streamed.metadata.content_hash == memory.metadata.content_hash


def test_parallel_jobs_give_identical_output(tmp_path, febrl4, febrl_schema, secret):
    febrl4.b.iloc[:4000].to_csv(tmp_path / "b.csv", index=False)
    outs = []
    for jobs in (1, 2):
        out = tmp_path / f"b{jobs}.parquet"
        bloom.encode_csv(
            tmp_path / "b.csv",
            febrl_schema,
            secret,
            agency="b",
            out=out,
            jobs=jobs,
            chunk_bytes=1 << 16,
        )
        outs.append(bloom.read_batch(out))
    assert np.array_equal(outs[0].filters, outs[1].filters)
    assert outs[0].metadata.content_hash == outs[1].metadata.content_hash
