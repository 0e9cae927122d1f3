"""Name frequencies and spelling variation: the public tables and the alternatives of one name.

The ``*_alternatives`` functions return, for one string, every different spelling a corruption
may turn it into, each with a probability; the generator calls them once per distinct string,
never per record. Results are title-cased (a capital after a start, space, hyphen or
apostrophe) like the listed names.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd

from evaluation._names import COMPOUND_SHARE, GROUPS, LISTS, PATRONYMIC_SHARE, TRADITIONS

__all__ = [
    "KINDS",
    "distribution",
    "doubling_alternatives",
    "name_table",
    "surname_alternatives",
    "titlecase",
    "transliteration_alternatives",
    "typo_alternatives",
    "variant_table",
]

KINDS: tuple[str, ...] = ("given_female", "given_male", "family", "place")
_EXPONENT = {"given_female": 1.0, "given_male": 1.0, "family": 0.8, "surname": 0.8, "place": 0.9}
_SEPARATOR = re.compile(r"([ \-'])")
_VOWELS = frozenset("aeiouyáéíóúàèìòùâêîôûäëïöü")
# Keyboard (QWERTY) and phonetic neighbours of each letter; phonetic ones first.
_NEIGHBOURS = {
    "a": "eoqwsz",
    "b": "pvghn",
    "c": "ksxdfv",
    "d": "tserfcx",
    "e": "aiwrsd",
    "f": "vdrtgc",
    "g": "jkftyhbv",
    "h": "gyujnb",
    "i": "eyuojk",
    "j": "gyhuikmn",
    "k": "cqjiolm",
    "l": "rkop",
    "m": "nj",
    "n": "mbhj",
    "o": "uaipkl",
    "p": "bol",
    "q": "kwa",
    "r": "letdf",
    "s": "zcawedx",
    "t": "dryfg",
    "u": "owyihj",
    "v": "fwcgb",
    "w": "vuqeas",
    "x": "kszdc",
    "y": "ijtugh",
    "z": "sax",
}
_TYPO_WEIGHT = {"substitution": 0.35, "deletion": 0.2, "insertion": 0.25, "transposition": 0.2}


def titlecase(text: str) -> str:
    """Capitalise the first letter of every part of a name (after a space, hyphen or
    apostrophe) and lower-case the rest; names hold letters and those separators only."""
    return text.title()


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in " ".join(text.split()).split(",") if p.strip())


def _zipf(n: int, exponent: float) -> np.ndarray:
    """Zipf-Mandelbrot frequencies of ranks 1..n (offset 1.7 flattens the very top)."""
    w = 1.0 / (np.arange(1, n + 1) + 1.7) ** exponent
    return w / w.sum()


def _merge(pairs: Iterable[tuple[str, float]]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for name, weight in pairs:
        merged[name] = merged.get(name, 0.0) + weight
    return merged


@functools.cache
def distribution(tradition: str, kind: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Names of one list and the probability that a person of the tradition bears each.

    ``family`` mixes the surnames with the male given names by the tradition's patronymic
    share, as the generator draws it; ``surname`` is the surnames alone (empty where the
    tradition has none), for families whose slot holds an inherited surname. The array is
    read-only.
    """
    lists = LISTS[tradition]
    own = _split_list(lists["family" if kind == "surname" else kind])
    weights = dict(zip(own, _zipf(len(own), _EXPONENT[kind]), strict=True))
    if kind == "family":
        share = PATRONYMIC_SHARE[tradition] if own else 1.0
        males = _split_list(lists["given_male"])
        pairs = [(n, (1 - share) * w) for n, w in weights.items()]
        pairs += zip(males, share * _zipf(len(males), _EXPONENT["given_male"]), strict=True)
        weights = {n: w for n, w in _merge(pairs).items() if w > 0}
    probs = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    probs /= probs.sum()
    probs.flags.writeable = False
    return tuple(weights), probs


def name_table() -> pd.DataFrame:
    """The attacker's public knowledge: every listed name with its frequency.

    Columns ``tradition, kind, name, frequency``; ``kind`` is ``given_female``,
    ``given_male``, ``family`` or ``place``, and frequencies sum to 1 within a tradition and
    kind. In traditions without family names the ``family`` rows are given names (the
    grandfather's name fills the slot); a Spanish family name holds one or two of the listed
    surnames (share ``COMPOUND_SHARE``), each drawn by these frequencies.
    """
    rows = [
        (tradition, kind, name, float(p))
        for tradition in TRADITIONS
        for kind in KINDS
        for name, p in zip(*distribution(tradition, kind), strict=True)
    ]
    return pd.DataFrame(rows, columns=["tradition", "kind", "name", "frequency"])


@functools.cache
def _groups() -> dict[str, dict[str, dict[str, float]]]:
    """scope -> spelling -> its group (spelling -> probability); a later duplicate is ignored."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for scope, text in GROUPS.items():
        table = out.setdefault(scope, {})
        for chunk in " ".join(text.split()).split(";"):
            pairs = [p.rsplit("=", 1) for p in chunk.split(",") if p.strip()]
            group = {name.strip(): float(w) for name, w in pairs}
            total = sum(group.values())
            group = {name: w / total for name, w in group.items()}
            for name in group:
                table.setdefault(name, group)
    return out


def variant_table() -> pd.DataFrame:
    """Transliteration groups: ``scope, group, name, probability`` (one row per spelling).

    ``group`` is the usual spelling; ``scope`` is ``any`` or the one tradition the group
    applies to (it takes precedence there over an ``any`` group holding the same spelling).
    Probabilities sum to 1 within a group.
    """
    rows = []
    for scope, table in _groups().items():
        seen: set[int] = set()
        for group in table.values():
            if id(group) not in seen:
                seen.add(id(group))
                head = next(iter(group))
                rows += [(scope, head, name, p) for name, p in group.items()]
    return pd.DataFrame(rows, columns=["scope", "group", "name", "probability"])


def _group_of(tradition: str, name: str) -> dict[str, float] | None:
    groups = _groups()
    return groups.get(tradition, {}).get(name) or groups["any"].get(name)


def _others(group: dict[str, float] | None, name: str) -> dict[str, float]:
    if not group:
        return {}
    others = {n: p for n, p in group.items() if n != name}
    total = sum(others.values())
    return {n: p / total for n, p in others.items()} if total else {}


def _article(name: str) -> dict[str, float]:
    """``Al-Hassan`` -> ``Al Hassan``, ``Alhassan``, ``El-Hassan``, ``Hassan``."""
    if not name.startswith("Al-") or len(name) < 5:
        return {}
    rest = name[3:]
    return {f"Al {rest}": 0.3, f"Al{rest.lower()}": 0.2, f"El-{rest}": 0.2, rest: 0.3}


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=65536)
def transliteration_alternatives(tradition: str, name: str) -> tuple[tuple[str, float], ...]:
    """Other Latin spellings of ``name`` as written for a person of ``tradition``.

    Sources, each weighted equally: the name's own group, the group of each of its parts
    (``Abdul Karim`` -> ``Abdool Karim``), the Arabic article (``Al-``) and dropping accents.
    """
    parts = [_others(_group_of(tradition, name), name), _article(name)]
    tokens = _SEPARATOR.split(name)
    if len(tokens) > 1:
        for i, token in enumerate(tokens):
            others = _others(_group_of(tradition, token), token)
            parts.append(
                {"".join([*tokens[:i], o, *tokens[i + 1 :]]): p for o, p in others.items()}
            )
    plain = _strip_accents(name)
    if plain != name:
        parts.append({plain: 1.0})
    parts = [p for p in parts if p]
    merged = _merge((alt, w / len(parts)) for part in parts for alt, w in part.items())
    merged.pop(name, None)
    return tuple(merged.items())


@functools.lru_cache(maxsize=65536)
def doubling_alternatives(name: str) -> tuple[tuple[str, float], ...]:
    """Drop one letter of a doubled pair (Hassan -> Hasan) or, without one, double a letter.

    Letters doubled by preference: a consonant between vowels (Hasan -> Hassan), else a vowel
    after the first letter (Nur -> Nuur), else any later letter.
    """
    low = name.lower()
    runs = [i for i in range(len(low) - 1) if low[i].isalpha() and low[i] == low[i + 1]]
    if runs:
        alts = [name[:i] + name[i + 1 :] for i in runs]
    else:

        def intervocalic(i: int) -> bool:
            return (
                low[i] not in _VOWELS
                and low[i - 1] in _VOWELS
                and i + 1 < len(low)
                and low[i + 1] in _VOWELS
            )

        letters = [i for i in range(1, len(low)) if low[i].isalpha()]
        picks = [i for i in letters if intervocalic(i)] or [i for i in letters if low[i] in _VOWELS]
        alts = [name[: i + 1] + low[i] + name[i + 1 :] for i in picks or letters]
    return _uniform(alts, name)


def _uniform(alts: list[str], name: str) -> tuple[tuple[str, float], ...]:
    alts = [a for a in (titlecase(a) for a in alts) if a != name]
    return tuple(_merge((a, 1.0 / len(alts)) for a in alts).items()) if alts else ()


def _neighbours(ch: str) -> str:
    if ch in _NEIGHBOURS:
        return _NEIGHBOURS[ch]
    base = _strip_accents(ch)
    return (base + _NEIGHBOURS.get(base, "")).replace(ch, "") if base.isalpha() else ""


@functools.lru_cache(maxsize=65536)
def typo_alternatives(name: str) -> tuple[tuple[str, float], ...]:
    """Every single-edit typo of ``name``: substitution by a keyboard or phonetic neighbour,
    deletion, insertion of a neighbour after a letter, transposition of two letters."""
    low = name.lower()
    letters = [i for i, ch in enumerate(low) if ch.isalpha()]
    ops: dict[str, list[str]] = {
        "substitution": [low[:i] + r + low[i + 1 :] for i in letters for r in _neighbours(low[i])],
        "deletion": [low[:i] + low[i + 1 :] for i in letters] if len(letters) > 2 else [],
        "insertion": [
            low[: i + 1] + r + low[i + 1 :] for i in letters for r in _neighbours(low[i])
        ],
        "transposition": [
            low[:i] + low[i + 1] + low[i] + low[i + 2 :]
            for i in letters
            if i + 1 < len(low) and low[i + 1].isalpha() and low[i] != low[i + 1]
        ],
    }
    ops = {op: alts for op, alts in ops.items() if alts}
    total = sum(_TYPO_WEIGHT[op] for op in ops)
    pairs = (
        (titlecase(alt), _TYPO_WEIGHT[op] / total / len(alts))
        for op, alts in ops.items()
        for alt in alts
    )
    merged = _merge(pairs)
    merged.pop(name, None)
    return tuple(merged.items())


def surname_alternatives(tradition: str, name: str) -> tuple[tuple[str, float], ...]:
    """A double surname (paternal, maternal) recorded with the first one only."""
    if tradition in COMPOUND_SHARE and " " in name:
        return ((name.split(" ")[0], 1.0),)
    return ()
