"""The synthetic generator's name lists, transliteration groups and spelling variation."""

from __future__ import annotations

import re

import jellyfish
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluation import _spelling as sp
from evaluation._synthetic import TRADITIONS, name_table, variant_table


def squeeze(text: str) -> str:
    return re.sub(r"(.)\1+", r"\1", text.lower())


def test_name_table_is_the_public_knowledge():
    table = name_table()
    assert list(table.columns) == ["tradition", "kind", "name", "frequency"]
    assert set(table["tradition"]) == set(TRADITIONS)
    assert not table.duplicated(["tradition", "kind", "name"]).any()
    assert (table["frequency"] > 0).all()
    size = table.groupby(["tradition", "kind"]).size()
    total = table.groupby(["tradition", "kind"])["frequency"].sum()
    assert np.allclose(total, 1.0)
    assert size.drop("place", level="kind").between(40, 150).all()
    assert size.xs("place", level="kind").between(15, 40).all()
    people = table[table["kind"] != "place"]["name"]
    assert people.map(
        lambda s: s == s.title() and re.fullmatch(r"[^\W\d_]+([ '-][^\W\d_]+)*", s) is not None
    ).all()


def test_variant_groups():
    table = variant_table()
    assert table.groupby(["scope", "group"]).ngroups >= 40
    assert np.allclose(table.groupby(["scope", "group"])["probability"].sum(), 1.0)
    assert not table.duplicated(["scope", "name"]).any()

    def group(scope: str, name: str) -> set[str]:
        head = table[(table["scope"] == scope) & (table["name"] == name)]["group"].iloc[0]
        return set(table[(table["scope"] == scope) & (table["group"] == head)]["name"])

    assert {"Mohammed", "Muhammad", "Mohamed", "Mohamad", "Mohammad", "Muhamed"} <= group(
        "any", "Mohammed"
    )
    assert {"Abdirahman", "Abdulrahman", "Abdurahman", "Abdelrahman"} <= group("any", "Abdirahman")
    assert {"Yusuf", "Yousef", "Youssef", "Yosef"} <= group("any", "Yusuf")
    assert {"Fatima", "Fatuma", "Fatma", "Fatimah"} <= group("any", "Fatima")
    assert {"Hussein", "Husein", "Hussain", "Hossein"} <= group("any", "Hussein")
    assert {"Aisha", "Aicha", "Ayesha", "Aysha"} <= group("any", "Aisha")
    assert {"Ahmed", "Ahmad", "Ahmet"} <= group("any", "Ahmed")
    assert {"Olena", "Elena", "Alyona"} <= group("ukrainian", "Olena")
    assert {"Oleksandr", "Aleksandr", "Alexander", "Olexandr"} <= group("ukrainian", "Oleksandr")


LETTERS = st.text(alphabet="abcdefhiklmnorstuyzéï", min_size=1, max_size=10)
NAME = st.lists(LETTERS, min_size=1, max_size=3).map(lambda parts: " ".join(parts).title())


@settings(max_examples=150, deadline=None)
@given(NAME)
def test_typos_are_one_edit_away(name):
    alternatives = sp.typo_alternatives(name)
    assert np.isclose(sum(p for _, p in alternatives), 1.0)
    for alt, _ in alternatives:
        assert alt != name and alt == alt.title()
        assert jellyfish.damerau_levenshtein_distance(alt.lower(), name.lower()) == 1


@settings(max_examples=150, deadline=None)
@given(NAME)
def test_doubling_only_changes_doubled_letters(name):
    for alt, _ in sp.doubling_alternatives(name):
        assert alt != name and squeeze(alt) == squeeze(name)
