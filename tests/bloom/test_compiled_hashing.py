"""The compiled BLAKE3 and key rendering equal the blake3 package and the Python renderers."""

import blake3
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from bloom._blake3 import key_words, positions_from_messages
from bloom._datekeys import date_keys, render_date_key
from bloom._encoder import Encoder
from bloom._hashing import TokenHasher
from bloom._jit import read_only
from bloom._render import DATE_KEYS, GRAM_KEYS, render_keys
from bloom._vocab import add_token_bits, qgram_keys, set_token_bits, unique_keys, unpack_gram


def _packed(messages: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(messages) + 1, dtype=np.int64)
    np.cumsum([len(m) for m in messages], out=offsets[1:])
    return np.frombuffer(b"".join(messages), dtype=np.uint8), offsets


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32),
    messages=st.lists(st.binary(max_size=1024), min_size=1, max_size=6),
    weight=st.integers(1, 20),
)
def test_compiled_blake3_matches_the_package(key, messages, weight):
    data, offsets = _packed(messages)
    # read-only inputs, as TokenHasher passes them: the signature production compiles
    words, offsets = read_only(key_words(key)), read_only(offsets)
    got = positions_from_messages(words, data, offsets, weight, 2**61, 0)
    for m, row in zip(messages, got, strict=True):
        raw = np.frombuffer(blake3.blake3(m, key=key).digest(length=8 * weight), "<u8")
        assert row.tolist() == (raw % np.uint64(2**61)).astype(np.int64).tolist()


def test_block_boundaries_and_long_tokens():
    key = bytes(range(32))
    tokens = ["", "a", "x" * 63, "x" * 64, "x" * 65, "é" * 512, "y" * 1024, "z" * 3000]
    hasher = TokenHasher(key, 128, 256)
    got = hasher.positions_many(tokens, 9)
    for t, row in zip(tokens, got, strict=True):
        raw = np.frombuffer(blake3.blake3(t.encode(), key=key).digest(length=72), "<u8")
        assert row.tolist() == (raw % np.uint64(256) + np.uint64(128)).astype(np.int64).tolist()


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.text(alphabet=st.characters(min_codepoint=1, exclude_categories=["Cs"]))),
    q=st.integers(1, 3),
    padding=st.booleans(),
)
def test_rendered_grams_are_the_gram_texts(values, q, padding):
    keys = np.unique(qgram_keys(values, q, padding, False).keys)
    data, offsets = render_keys(keys, np.frombuffer(b"q2\x1f", np.uint8), GRAM_KEYS)
    got = [bytes(data[offsets[i] : offsets[i + 1]]) for i in range(len(keys))]
    assert got == [("q2\x1f" + unpack_gram(int(k))).encode() for k in keys]


def test_rendered_date_keys_are_the_date_tokens():
    rng = np.random.default_rng(7)
    n = 2000
    ys, ms, ds = rng.integers(1850, 2151, n), rng.integers(0, 13, n), rng.integers(0, 32, n)
    dates = [
        (int(y), int(m) or None, (int(d) or None) if m else None)
        for y, m, d in zip(ys, ms, ds, strict=True)
    ]
    parts = ("year", "month", "day", "day_month", "year_window", "year_month", "full")
    keys = np.unique(date_keys(dates, np.ones(n, bool), parts).keys)
    data, offsets = render_keys(keys, np.frombuffer(b"d\x1f", np.uint8), DATE_KEYS)
    got = [bytes(data[offsets[i] : offsets[i + 1]]) for i in range(len(keys))]
    assert got == [("d\x1f" + render_date_key(int(k))).encode() for k in keys]


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 5), max_size=300))
def test_unique_keys_invert(keys):
    arr = np.array(keys, dtype=np.uint64)
    inverse, uniq = unique_keys(arr)
    assert uniq.tolist() == list(dict.fromkeys(keys))
    assert np.array_equal(uniq[inverse], arr)


def test_token_bits_by_words_equal_token_bits_by_bit():
    rng = np.random.default_rng(3)
    table = rng.integers(128, 384, size=(40, 7))  # a segment of words 2..5
    indptr = np.concatenate([[0], np.cumsum(rng.integers(0, 9, 300))])
    rows = rng.integers(0, 40, indptr[-1])
    by_bit, by_word = (np.zeros((300, 4), dtype=np.uint64) for _ in range(2))
    set_token_bits(by_bit, 2, indptr, rows, table)
    add_token_bits(by_word, 2, indptr, rows, table)  # rows reused: the word-wise kernel
    assert rows.shape[0] >= 2 * table.shape[0]
    assert np.array_equal(by_bit, by_word)


def test_long_exact_values_match_reference(secret):
    """Whole-value tokens longer than one BLAKE3 chunk take the blake3 package, same bits."""
    from bloom._reference import reference_encode

    from .test_reference_parity import _schema

    cells = {
        "given_name": "Ab" * 700,
        "family_name": "x",
        "place": "é" * 600,
        "sex": "F" * 2000,
        "date_of_birth": None,
        "age": None,
    }
    df = pd.DataFrame([cells, {**cells, "sex": "m"}])
    schema = _schema({})
    fast = Encoder(schema, secret).encode_chunk({c: df[c] for c in df.columns}, len(df)).filters
    assert np.array_equal(fast, reference_encode(df, schema, secret))


def test_writable_and_read_only_messages_hash_alike_through_one_compiled_signature():
    """np.frombuffer's messages are read-only, an array made here is not: the hasher hands
    the kernel read-only views of both (bloom._jit.read_only), so the second kind compiles
    nothing new, and the positions are the same."""
    hasher = TokenHasher(bytes(range(32)), offset=64, bits=960)
    data = np.frombuffer(b"aminayusufaleppo", np.uint8)
    offsets = np.array([0, 5, 10, 16], dtype=np.int64)
    writable = hasher.positions_packed(data.copy(), offsets, 7)
    seen = set(positions_from_messages.signatures)
    read_only = hasher.positions_packed(data, offsets, 7)
    assert set(positions_from_messages.signatures) == seen
    np.testing.assert_array_equal(writable, read_only)
    np.testing.assert_array_equal(writable, hasher.positions_many(["amina", "yusuf", "aleppo"], 7))
