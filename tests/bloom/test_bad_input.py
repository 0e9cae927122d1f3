"""Bad input: clear errors naming rows and columns, never values; nothing left behind."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import bloom
from bloom import BatchError, EncodingError

SECRET_NAME = "Zyxwvutsrq"  # a value that must never appear in an error message


@pytest.fixture()
def csv(tmp_path, people):
    def write(df: pd.DataFrame, name: str = "in.csv") -> str:
        path = tmp_path / name
        df.to_csv(path, index=False)
        return path

    return write


def run(path, schema, secret, tmp_path, **kw):
    return bloom.encode_csv(
        path, schema, secret, agency="unhcr", out=tmp_path / "out.parquet", **kw
    )


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in {"in.csv"})


def test_missing_column_is_named(tmp_path, csv, people, person_schema, secret):
    path = csv(people.drop(columns=["father_name", "place_of_birth"]))
    with pytest.raises(EncodingError) as e:
        run(path, person_schema, secret, tmp_path)
    assert "column 'place_of_birth' (field 'place_of_birth')" in str(e.value)
    # two fields read the father's name: one problem names both
    assert "column 'father_name' (fields 'father_name', 'father_in_name')" in str(e.value)
    assert len(e.value.problems) == 2
    assert leftovers(tmp_path) == []


def test_unparseable_dates_name_rows_not_values(tmp_path, csv, people, secret):
    s = bloom.Schema.from_dict(
        {
            "version": 1,
            "fields": [
                {"name": "given_name", "type": "name"},
                {"name": "date_of_birth", "type": "date"},
            ],
        }
    )
    df = pd.concat([people] * 5, ignore_index=True)
    df.loc[[3, 11], "date_of_birth"] = SECRET_NAME
    df.loc[7, "date_of_birth"] = "1990-13-45"
    with pytest.raises(EncodingError) as e:
        run(csv(df), s, secret, tmp_path, chunk_bytes=1 << 16)
    msg = str(e.value)
    assert "column 'date_of_birth'" in msg and "3 rows (4, 8, 12)" in msg
    assert SECRET_NAME not in msg and "1990-13-45" not in msg
    assert leftovers(tmp_path) == []


def test_invalid_dates_can_be_counted_as_missing(tmp_path, csv, people, person_schema, secret):
    df = people.copy()
    df.loc[1, "date_of_birth"] = "not a date"
    report = run(csv(df), person_schema, secret, tmp_path)
    assert report.invalid == {"birth_year": 1, "birth_day": 1}  # two fields read the column
    assert report.records == 4


def test_missing_values_rejected_when_the_schema_says_so(tmp_path, csv, people, secret):
    s = bloom.Schema.from_dict(
        {"version": 1, "fields": [{"name": "father_name", "type": "name", "missing": "reject"}]}
    )
    with pytest.raises(EncodingError, match=r"father_name.*1 row \(2\)"):
        run(csv(people), s, secret, tmp_path)


def test_non_utf8_input_is_refused(tmp_path, people, person_schema, secret):
    path = tmp_path / "in.csv"
    path.write_bytes(
        people.to_csv(index=False).replace("José", "Jos\xe9").encode("utf-8")
        + "\nx,Jos\xe9,y,z,M,1990,town\n".encode("latin-1")
    )
    with pytest.raises(EncodingError) as e:
        run(path, person_schema, secret, tmp_path)
    invalid = next(p for p in e.value.problems if p.startswith("invalid_utf8: "))
    assert "not UTF-8 text (in 'given_name')" in invalid and invalid.endswith("1 row (5)")
    assert "--input-encoding" in invalid
    assert leftovers(tmp_path) == []
    report = run(path, person_schema, secret, tmp_path, input_encoding="latin-1")
    assert report.records == 5


def test_empty_file_and_header_only(tmp_path, people, person_schema, secret):
    empty = tmp_path / "in.csv"
    empty.write_bytes(b"")
    with pytest.raises(EncodingError, match="is empty"):
        run(empty, person_schema, secret, tmp_path)
    empty.write_text(",".join(people.columns) + "\n")
    with pytest.raises(EncodingError, match="no records"):
        run(empty, person_schema, secret, tmp_path)
    assert leftovers(tmp_path) == []


def test_duplicate_and_empty_refs_name_rows(tmp_path, csv, people, person_schema, secret):
    df = pd.concat([people] * 3, ignore_index=True)
    df["ref"] = [f"r{i}" for i in range(len(df))]
    df.loc[9, "ref"] = "r2"
    with pytest.raises(EncodingError, match=r"duplicate_ref: .*1 pair \(rows 3 and 10\)"):
        run(csv(df), person_schema, secret, tmp_path, id_column="ref", chunk_bytes=1 << 16)
    df.loc[9, "ref"] = None
    with pytest.raises(EncodingError, match=r"record_ref \(column 'ref'\) is empty: 1 row \(10\)"):
        run(csv(df), person_schema, secret, tmp_path, id_column="ref")
    with pytest.raises(EncodingError, match="--id-column 'nope'"):
        run(csv(df), person_schema, secret, tmp_path, id_column="nope")
    assert leftovers(tmp_path) == []


def test_in_memory_duplicates_and_empty_frames(people, person_schema, secret):
    with pytest.raises(EncodingError, match="duplicated"):
        bloom.encode(pd.concat([people, people]), person_schema, secret, id_column="ref")
    with pytest.raises(EncodingError, match="no records"):
        bloom.encode(people.iloc[:0], person_schema, secret)
    with pytest.raises(BatchError, match="agency"):
        bloom.encode(people, person_schema, secret, agency="bad agency!")


@pytest.fixture()
def batch_file(tmp_path, people, person_schema, secret):
    path = tmp_path / "batch.parquet"
    bloom.encode(people, person_schema, secret, agency="unhcr", id_column="ref").write(path)
    return path


def _rewrite(path, table, meta_json):
    pq.write_table(table.replace_schema_metadata(None), path)
    if meta_json is not None:
        import pyarrow.parquet as pq2

        w = pq2.ParquetWriter(path, table.schema.remove_metadata())
        w.write_table(table.replace_schema_metadata(None))
        w.add_key_value_metadata({"caselink": meta_json})
        w.close()


def test_batch_without_metadata_is_refused(batch_file):
    table = pq.read_table(batch_file)
    _rewrite(batch_file, table, None)
    with pytest.raises(BatchError, match="no caselink metadata"):
        bloom.read_batch(batch_file)


def test_altered_record_count_is_detected(batch_file):
    meta = pq.read_metadata(batch_file).metadata[b"caselink"].decode()
    table = pq.read_table(batch_file)
    _rewrite(batch_file, table, meta.replace('"record_count": 4', '"record_count": 5'))
    with pytest.raises(BatchError, match="record_count says 5"):
        bloom.read_batch(batch_file)


def test_altered_filter_bit_is_detected(batch_file):
    meta = pq.read_metadata(batch_file).metadata[b"caselink"].decode()
    b = bloom.read_batch(batch_file)
    flipped = b.filters.copy()
    flipped[2, 3] ^= np.uint64(1)
    tampered = bloom.EncodedBatch(b.record_refs, flipped, b.metadata)
    tampered.write(batch_file)  # rewrites a fresh hash: now put the old one back
    _rewrite(batch_file, pq.read_table(batch_file), meta)
    with pytest.raises(BatchError, match="content_hash does not match"):
        bloom.read_batch(batch_file)


def test_missing_metadata_keys_are_all_listed(batch_file):
    table = pq.read_table(batch_file)
    _rewrite(batch_file, table, '{"format": "caselink-batch", "format_version": 1}')
    with pytest.raises(BatchError) as e:
        bloom.read_batch(batch_file)
    assert "'agency' is missing" in str(e.value) and "'content_hash' is missing" in str(e.value)


def test_not_parquet_and_not_there(tmp_path):
    (tmp_path / "x.parquet").write_text("record_ref,bloom\n")
    with pytest.raises(BatchError, match="not a Parquet file"):
        bloom.read_batch(tmp_path / "x.parquet")
    with pytest.raises(BatchError, match="does not exist"):
        bloom.read_batch(tmp_path / "y.parquet")


# -- the ref rule in caselink encode --------------------------------------------------------
def _register_with_bad_refs(tmp_path, people) -> tuple[object, dict[str, str]]:
    """A CSV register of 20 rows whose refs break each rule once, after a row with one column
    too many (the streaming reader skips it, so later rows must still get their true numbers)
    and with a quoted line break inside a ref (one row, two lines)."""
    df = pd.concat([people] * 5, ignore_index=True)
    df["ref"] = [f"r{i}" for i in range(len(df))]
    bad = {
        5: SECRET_NAME + "\t1",
        8: "\n" + SECRET_NAME,
        11: SECRET_NAME + "x" * 250,
        13: SECRET_NAME + "\u2028",
        16: "   ",
        19: SECRET_NAME + "\x00",
    }
    for row, ref in bad.items():
        df.loc[row - 1, "ref"] = ref
    text = df.to_csv(index=False).splitlines(keepends=True)
    text[3] = text[3].rstrip("\n") + ",one too many\n"  # data row 3
    path = tmp_path / "in.csv"
    path.write_text("".join(text))
    return path, bad


def test_encode_names_every_bad_ref_by_true_row_and_rule(tmp_path, people, person_schema, secret):
    path, _ = _register_with_bad_refs(tmp_path, people)
    with pytest.raises(EncodingError) as e:
        run(path, person_schema, secret, tmp_path, id_column="ref", chunk_bytes=1 << 16)
    problems = {p.split(": ")[0]: p for p in e.value.problems if not p.startswith("(warning)")}
    ref = "record_ref (column 'ref')"
    assert problems["ref_control_character"] == (
        f"ref_control_character: {ref} holds a control character (such as NUL, tab, CR or LF): "
        "3 rows (5, 8, 19)"
    )
    assert (
        problems["ref_too_long"] == f"ref_too_long: {ref} is longer than 256 characters: 1 row (11)"
    )
    assert problems["ref_invisible_character"].startswith(f"ref_invisible_character: {ref} holds")
    assert problems["ref_invisible_character"].endswith("1 row (13)")
    # encode trims the spaces around refs
    assert problems["empty_ref"] == f"empty_ref: {ref} is empty: 1 row (16)"
    assert problems["too_many_fields"].endswith("1 row (3)")
    assert len(problems) == 5
    assert SECRET_NAME not in str(e.value) and "one too many" not in str(e.value)
    assert leftovers(tmp_path) == []


def test_encode_in_memory_applies_the_same_rule(people, person_schema, secret):
    df = people.assign(ref=["ok", "", "x" * 257, SECRET_NAME + "\r"])
    with pytest.raises(EncodingError) as e:
        bloom.encode(df, person_schema, secret, id_column="ref")
    ref = "record_ref (column 'ref')"
    assert set(e.value.problems) == {
        f"empty_ref: {ref} is empty: 1 row (2)",
        f"ref_too_long: {ref} is longer than 256 characters: 1 row (3)",
        f"ref_control_character: {ref} holds a control character (such as NUL, tab, CR or LF): "
        "1 row (4)",
    }
    assert SECRET_NAME not in str(e.value)


def test_the_encode_command_refuses_bad_refs_exit_2(tmp_path, people):
    from tests.cli import caselink  # the command's entry function, in this process

    path, _ = _register_with_bad_refs(tmp_path, people)
    r = caselink(
        "encode",
        "--schema",
        "person",
        "--input",
        path,
        "--agency",
        "a",
        "--id-column",
        "ref",
        "--out",
        tmp_path / "out.parquet",
        env={"CASELINK_SECRET": "00" * 32},
        clean=False,
    )
    assert r.returncode == 2, r.stderr
    assert "3 rows (5, 8, 19)" in r.stderr and "1 row (11)" in r.stderr
    assert SECRET_NAME not in r.stderr + r.stdout
    assert leftovers(tmp_path) == []
