import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage._caseid import CaseIdError, is_valid_case_id, new_case_id, parse_case_id

SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_format_is_human_transcribable():
    for _ in range(200):
        cid = new_case_id()
        assert re.fullmatch(
            r"CL-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]", cid
        )
        assert parse_case_id(cid) == cid


def test_ids_are_random():
    assert len({new_case_id() for _ in range(1000)}) == 1000


def test_reading_is_forgiving():
    cid = new_case_id(0x123456789)
    sloppy = cid.lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert parse_case_id(sloppy) == cid


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=2**40 - 1), st.integers(0, 8), st.integers(1, 31))
def test_every_single_symbol_error_is_caught(value, position, delta):
    cid = new_case_id(value)
    symbols = list(cid.replace("-", "")[2:])  # 8 body symbols + check
    symbols[position] = SYMBOLS[(SYMBOLS.index(symbols[position]) + delta) % 32]
    typed = "CL" + "".join(symbols)
    assert not is_valid_case_id(typed)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=2**40 - 1), st.integers(0, 7))
def test_every_adjacent_swap_is_caught(value, position):
    cid = new_case_id(value)
    symbols = list(cid.replace("-", "")[2:])
    if symbols[position] == symbols[position + 1]:
        return  # swapping equal symbols changes nothing
    symbols[position], symbols[position + 1] = symbols[position + 1], symbols[position]
    assert not is_valid_case_id("CL" + "".join(symbols))


@pytest.mark.parametrize(
    "text", ["", "CL-1234", "XX-7K3M-Q9TX-4", "CL-7K3M-Q9TU-4", "CL-7K3M-Q9TX-45"]
)
def test_malformed_ids_are_refused(text):
    with pytest.raises(CaseIdError):
        parse_case_id(text)


def test_exhaustive_small_check():
    # all single substitutions of one id, over the whole alphabet
    cid = new_case_id(987654321)
    body = cid.replace("-", "")[2:]
    for pos, sym in itertools.product(range(9), SYMBOLS):
        if body[pos] != sym:
            assert not is_valid_case_id("CL" + body[:pos] + sym + body[pos + 1 :])
