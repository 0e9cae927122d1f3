import pytest

from bloom._schema import Schema
from bloom._tokens import field_tokens, normalise_text, parse_date, parse_value

NAME_OPTS = {
    "unicode": "NFKD",
    "strip_accents": True,
    "casefold": True,
    "punctuation": "space",
    "whitespace": "collapse",
    "particles": ["al", "el", "abd"],
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  José  María ", "jose maria"),
        ("MÜLLER", "muller"),
        ("Al-Hassan", "hassan"),
        ("el Amin", "amin"),
        ("O'Brien", "o brien"),
        (
            "\uff2d\uff4f\uff48\uff41\uff4d\uff4d\uff45\uff44",
            "mohammed",
        ),  # full-width letters fold under NFKD
        ("al", "al"),  # a name made only of a particle is kept
        ("\t\n", ""),
    ],
)
def test_name_normalisation(raw, expected):
    assert normalise_text(raw, NAME_OPTS) == expected


def test_category_whitespace_removal():
    opts = {**NAME_OPTS, "particles": [], "punctuation": "remove", "whitespace": "remove"}
    assert normalise_text("N.S. W ", opts) == "nsw"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1985-03-12", (1985, 3, 12)),
        ("19850312", (1985, 3, 12)),
        ("12/03/1985", (1985, 3, 12)),
        ("1985", (1985, None, None)),
        ("1985-00-00", (1985, None, None)),
        ("19850700", (1985, 7, None)),
        ("1985-02-30", None),
        ("yesterday", None),
        ("1492-01-01", None),
    ],
)
def test_date_parsing(raw, expected):
    assert parse_date(raw, ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%Y")) == expected


ALL_DATE_PARTS = {
    "version": 1,
    "fields": [
        {
            "name": "dob",
            "type": "date",
            "tokenisers": [
                {"kind": "date", "parts": ["year", "month", "day", "day_month", "year_window"]}
            ],
        }
    ],
}


def _date_tokens(raw):
    f = Schema.from_dict(ALL_DATE_PARTS).field("dob")
    parsed, status = parse_value(raw, f)
    assert status == "ok"
    return {t for _, toks in field_tokens(parsed, f) for t in toks}


def test_day_month_swap_keeps_a_shared_token():
    shared = _date_tokens("1985-03-12") & _date_tokens("1985-12-03")
    assert any("dm3-12" in t for t in shared)


def test_year_window_overlaps_for_one_year_only():
    base = _date_tokens("1985")
    assert any("w" in t for t in base & _date_tokens("1986"))
    assert any("w" in t for t in base & _date_tokens("1984"))
    assert not base & _date_tokens("1987")


def test_year_only_date_shares_year_tokens_with_full_date():
    assert _date_tokens("1985") < _date_tokens("1985-03-12")


def test_name_tokens_do_not_depend_on_part_order():
    f = Schema.load("person").field("given_name")

    def toks(raw):
        parsed, _ = parse_value(raw, f)
        return {t for _, ts in field_tokens(parsed, f) for t in ts}

    assert toks("Amina Yusuf") == toks("yusuf AMINA")


def test_phonetic_codes_skip_non_latin_parts():
    f = Schema.load("person").field("given_name")
    parsed, _ = parse_value("محمد Mohammed", f)
    phon = next(ts for tok, ts in field_tokens(parsed, f) if tok.kind == "phonetic")
    assert len(phon) == 1


def test_placeholder_day_month_reads_as_year_only():
    doc = {
        "version": 1,
        "fields": [{"name": "dob", "type": "date", "date": {"year_only_day_months": ["01-01"]}}],
    }
    f = Schema.from_dict(doc).field("dob")
    assert parse_value("1985-01-01", f) == ((1985, None, None), "ok")
    assert parse_value("1985-01-02", f) == ((1985, 1, 2), "ok")
    with pytest.raises(Exception, match="does not match"):
        Schema.from_dict(
            {**doc, "fields": [{**doc["fields"][0], "date": {"year_only_day_months": ["13-01"]}}]}
        )
