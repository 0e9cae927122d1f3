"""Names of a displaced population, written once in a canonical form and romanised by rules.

This module is independent of the synthetic generator's name lists and spelling tables
(:mod:`evaluation._names`, :mod:`evaluation._spelling`): it has its own inventories and its
own error model. A canonical name is lower-case Latin letters, spaces, and *sound classes* in
braces -- ``m{o_u}{h}amm{a_e}d`` -- that each romanisation scheme spells its own way, one draw
per occurrence (clerks of one agency are not perfectly consistent either). Rules beyond the
classes:

* a doubled letter (a shadda) is written single with the scheme's ``undouble`` probability,
  and a single consonant between vowels is doubled with its ``double`` probability;
* ``{art}`` is the Arabic article: ``al``/``el``/``ul`` by the scheme, assimilated to a sun
  letter (``ar-rashid``), joined by a hyphen, a space or nothing, or dropped;
* ``{sep}`` splits a compound (``abd{sep}{art}rahman``): a space, a hyphen or nothing.

Four schemes stand for four transliteration habits: an English/UN one, a French one, a
Somali/Pashto field-orthography one and a German/Slavic passport one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

__all__ = ["INVENTORIES", "SCHEMES", "Scheme", "romanise"]

Options = tuple[tuple[str, float], ...]
_TOKEN = re.compile(r"\{(\w+)\}|([a-z' ])")
_VOWELS = frozenset("aeiouy")
_VOWEL_CLASSES = frozenset({"a_e", "o_u", "o_a", "y_i", "ii", "uu"})
_SUN = ("t", "th", "d", "dh", "r", "z", "s", "sh", "n")


@dataclass(frozen=True)
class Scheme:
    """How one transliteration habit spells each sound class, with probabilities."""

    name: str
    classes: MappingProxyType[str, Options]
    article: Options  # the article's vowel
    assimilate: float  # al-rashid -> ar-rashid
    article_join: Options  # "-", " " or ""
    article_drop: float
    compound_join: Options
    undouble: float  # a canonical double letter written single
    double: float  # a single consonant between vowels written double


def _opts(*pairs: tuple[str, float]) -> Options:
    total = sum(p for _, p in pairs)
    return tuple((s, p / total) for s, p in pairs)


def _scheme(name: str, table: dict[str, Options], **kw: object) -> Scheme:
    return Scheme(name=name, classes=MappingProxyType(table), **kw)  # type: ignore[arg-type]


SCHEMES: tuple[Scheme, ...] = (
    _scheme(
        "english",
        {
            "kh": _opts(("kh", 0.85), ("h", 0.15)),
            "h": _opts(("h", 1.0)),
            "q": _opts(("q", 0.7), ("k", 0.3)),
            "j": _opts(("j", 1.0)),
            "zh": _opts(("zh", 0.9), ("j", 0.1)),
            "sh": _opts(("sh", 1.0)),
            "ch": _opts(("ch", 1.0)),
            "gh": _opts(("gh", 0.9), ("g", 0.1)),
            "dh": _opts(("dh", 0.5), ("d", 0.3), ("z", 0.2)),
            "th": _opts(("th", 0.6), ("t", 0.2), ("s", 0.2)),
            "uu": _opts(("u", 0.7), ("oo", 0.3)),
            "ii": _opts(("i", 0.7), ("ee", 0.3)),
            "o_u": _opts(("u", 0.5), ("o", 0.5)),
            "a_e": _opts(("a", 0.6), ("e", 0.4)),
            "o_a": _opts(("o", 0.7), ("a", 0.3)),
            "y_i": _opts(("y", 0.7), ("i", 0.3)),
            "y": _opts(("y", 1.0)),
            "w": _opts(("w", 1.0)),
            "v": _opts(("v", 1.0)),
            "ayn": _opts(("", 0.8), ("'", 0.1), ("a", 0.1)),
            "ks": _opts(("ks", 0.6), ("x", 0.4)),
            "ts": _opts(("ts", 1.0)),
            "g_h": _opts(("h", 0.7), ("g", 0.3)),
            "iy": _opts(("iy", 0.5), ("ii", 0.3), ("y", 0.2)),
            "ya": _opts(("ya", 0.7), ("ia", 0.3)),
            "yu": _opts(("yu", 0.7), ("iu", 0.3)),
            "ye": _opts(("ye", 0.6), ("ie", 0.2), ("e", 0.2)),
            "soft": _opts(("", 0.8), ("'", 0.2)),
            "ta": _opts(("a", 0.5), ("ah", 0.5)),
            "fh": _opts(("h", 0.7), ("", 0.3)),
        },
        article=_opts(("a", 0.8), ("e", 0.2)),
        assimilate=0.3,
        article_join=_opts(("-", 0.5), (" ", 0.3), ("", 0.2)),
        article_drop=0.15,
        compound_join=_opts((" ", 0.5), ("", 0.3), ("-", 0.2)),
        undouble=0.2,
        double=0.05,
    ),
    _scheme(
        "french",
        {
            "kh": _opts(("kh", 0.6), ("h", 0.4)),
            "h": _opts(("h", 0.9), ("", 0.1)),
            "q": _opts(("k", 0.6), ("q", 0.4)),
            "j": _opts(("dj", 0.7), ("j", 0.3)),
            "zh": _opts(("j", 0.7), ("zh", 0.3)),
            "sh": _opts(("ch", 0.8), ("sh", 0.2)),
            "ch": _opts(("tch", 0.8), ("ch", 0.2)),
            "gh": _opts(("gh", 0.5), ("r", 0.5)),
            "dh": _opts(("d", 0.7), ("dh", 0.3)),
            "th": _opts(("t", 0.7), ("th", 0.3)),
            "uu": _opts(("ou", 0.9), ("u", 0.1)),
            "ii": _opts(("i", 0.9), ("y", 0.1)),
            "o_u": _opts(("ou", 0.4), ("o", 0.6)),
            "a_e": _opts(("e", 0.8), ("a", 0.2)),
            "o_a": _opts(("o", 0.6), ("a", 0.4)),
            "y_i": _opts(("y", 0.5), ("i", 0.5)),
            "y": _opts(("y", 0.5), ("i", 0.5)),
            "w": _opts(("ou", 0.6), ("w", 0.4)),
            "v": _opts(("v", 1.0)),
            "ayn": _opts(("", 0.6), ("a", 0.4)),
            "ks": _opts(("x", 0.6), ("ks", 0.4)),
            "ts": _opts(("ts", 0.7), ("tz", 0.3)),
            "g_h": _opts(("g", 0.6), ("h", 0.4)),
            "iy": _opts(("i", 0.5), ("y", 0.3), ("ii", 0.2)),
            "ya": _opts(("ia", 0.7), ("ya", 0.3)),
            "yu": _opts(("iou", 0.5), ("you", 0.5)),
            "ye": _opts(("ie", 0.5), ("e", 0.5)),
            "soft": _opts(("", 1.0)),
            "ta": _opts(("a", 0.7), ("ah", 0.3)),
            "fh": _opts(("h", 0.5), ("", 0.5)),
        },
        article=_opts(("e", 0.8), ("a", 0.2)),
        assimilate=0.1,
        article_join=_opts(("-", 0.6), ("", 0.2), (" ", 0.2)),
        article_drop=0.1,
        compound_join=_opts(("", 0.5), (" ", 0.3), ("-", 0.2)),
        undouble=0.35,
        double=0.1,
    ),
    _scheme(
        "field",  # Somali orthography and ad hoc Pashto/Dari field spellings
        {
            "kh": _opts(("kh", 0.4), ("h", 0.4), ("x", 0.2)),
            "h": _opts(("h", 0.8), ("x", 0.2)),
            "q": _opts(("q", 0.8), ("g", 0.2)),
            "j": _opts(("j", 1.0)),
            "zh": _opts(("j", 0.5), ("z", 0.5)),
            "sh": _opts(("sh", 1.0)),
            "ch": _opts(("c", 0.4), ("ch", 0.6)),
            "gh": _opts(("g", 0.7), ("gh", 0.3)),
            "dh": _opts(("d", 0.5), ("dh", 0.5)),
            "th": _opts(("t", 1.0)),
            "uu": _opts(("uu", 0.5), ("u", 0.5)),
            "ii": _opts(("ii", 0.4), ("i", 0.6)),
            "o_u": _opts(("o", 0.6), ("u", 0.4)),
            "a_e": _opts(("a", 0.8), ("e", 0.2)),
            "o_a": _opts(("o", 0.5), ("a", 0.5)),
            "y_i": _opts(("i", 0.6), ("y", 0.4)),
            "y": _opts(("y", 1.0)),
            "w": _opts(("w", 1.0)),
            "v": _opts(("w", 0.5), ("v", 0.5)),
            "ayn": _opts(("c", 0.4), ("", 0.6)),
            "ks": _opts(("ks", 1.0)),
            "ts": _opts(("ts", 1.0)),
            "g_h": _opts(("g", 0.5), ("h", 0.5)),
            "iy": _opts(("i", 0.6), ("iy", 0.4)),
            "ya": _opts(("ya", 1.0)),
            "yu": _opts(("yu", 1.0)),
            "ye": _opts(("ye", 0.5), ("e", 0.5)),
            "soft": _opts(("", 1.0)),
            "ta": _opts(("a", 0.6), ("o", 0.1), ("ah", 0.3)),
            "fh": _opts(("", 0.6), ("h", 0.4)),
        },
        article=_opts(("a", 1.0)),
        assimilate=0.05,
        article_join=_opts(("", 0.5), (" ", 0.3), ("-", 0.2)),
        article_drop=0.5,
        compound_join=_opts(("", 0.6), (" ", 0.4)),
        undouble=0.3,
        double=0.15,
    ),
    _scheme(
        "german_slavic",
        {
            "kh": _opts(("ch", 0.5), ("kh", 0.3), ("h", 0.2)),
            "h": _opts(("h", 1.0)),
            "q": _opts(("k", 1.0)),
            "j": _opts(("dsch", 0.3), ("dj", 0.3), ("j", 0.4)),
            "zh": _opts(("zh", 0.4), ("sch", 0.2), ("z", 0.2), ("j", 0.2)),
            "sh": _opts(("sch", 0.4), ("sh", 0.4), ("sz", 0.2)),
            "ch": _opts(("tsch", 0.3), ("ch", 0.4), ("cz", 0.3)),
            "gh": _opts(("gh", 0.5), ("g", 0.5)),
            "dh": _opts(("d", 0.6), ("z", 0.4)),
            "th": _opts(("t", 1.0)),
            "uu": _opts(("u", 1.0)),
            "ii": _opts(("i", 0.7), ("ij", 0.1), ("y", 0.2)),
            "o_u": _opts(("o", 0.6), ("u", 0.4)),
            "a_e": _opts(("e", 0.6), ("a", 0.4)),
            "o_a": _opts(("o", 0.5), ("a", 0.5)),
            "y_i": _opts(("y", 0.5), ("i", 0.5)),
            "y": _opts(("j", 0.6), ("y", 0.3), ("i", 0.1)),
            "w": _opts(("w", 0.8), ("v", 0.2)),
            "v": _opts(("w", 0.5), ("v", 0.5)),
            "ayn": _opts(("", 1.0)),
            "ks": _opts(("ks", 0.5), ("x", 0.5)),
            "ts": _opts(("z", 0.4), ("ts", 0.3), ("c", 0.3)),
            "g_h": _opts(("h", 0.5), ("g", 0.5)),
            "iy": _opts(("ij", 0.5), ("i", 0.3), ("y", 0.2)),
            "ya": _opts(("ja", 0.7), ("ya", 0.3)),
            "yu": _opts(("ju", 0.7), ("yu", 0.3)),
            "ye": _opts(("je", 0.6), ("e", 0.4)),
            "soft": _opts(("", 0.7), ("j", 0.3)),
            "ta": _opts(("a", 1.0)),
            "fh": _opts(("h", 0.5), ("", 0.5)),
        },
        article=_opts(("a", 0.6), ("e", 0.4)),
        assimilate=0.1,
        article_join=_opts(("-", 0.7), (" ", 0.3)),
        article_drop=0.2,
        compound_join=_opts(("-", 0.4), (" ", 0.4), ("", 0.2)),
        undouble=0.25,
        double=0.05,
    ),
)


def _draw(options: Options, rng: np.random.Generator) -> str:
    return options[int(rng.choice(len(options), p=[p for _, p in options]))][0]


def romanise(canonical: str, scheme: Scheme, rng: np.random.Generator) -> str:
    """One spelling of a canonical name under ``scheme`` (lower case; see the module doc)."""
    tokens = [m.group(1) or m.group(2) for m in _TOKEN.finditer(canonical)]
    is_class = [m.group(1) is not None for m in _TOKEN.finditer(canonical)]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok, cls = tokens[i], is_class[i]
        if cls and tok == "art":
            i += 1
            out.append(_article(tokens, is_class, i, out, scheme, rng))
            continue
        if cls and tok == "sep":
            out.append(_draw(scheme.compound_join, rng))
        elif cls:
            out.append(_draw(scheme.classes[tok], rng))
        elif i + 1 < len(tokens) and tokens[i + 1] == tok and not is_class[i + 1]:
            out.append(tok if rng.random() < scheme.undouble else tok + tok)
            i += 1
        elif _between_vowels(tokens, is_class, i) and rng.random() < scheme.double:
            out.append(tok + tok)
        else:
            out.append(tok)
        i += 1
    return re.sub(r"\s+", " ", "".join(out)).strip(" -")


def _vowel(tok: str, cls: bool) -> bool:
    return tok in _VOWEL_CLASSES if cls else tok in _VOWELS


def _between_vowels(tokens: list[str], is_class: list[bool], i: int) -> bool:
    if tokens[i] in _VOWELS or tokens[i] in " '" or i == 0 or i + 1 >= len(tokens):
        return False
    return _vowel(tokens[i - 1], is_class[i - 1]) and _vowel(tokens[i + 1], is_class[i + 1])


def _article(
    tokens: list[str],
    is_class: list[bool],
    nxt: int,
    out: list[str],
    scheme: Scheme,
    rng: np.random.Generator,
) -> str:
    """The article before ``tokens[nxt]``; after ``abd`` mostly merged (``abdul``, ``abdel``)."""
    after_abd = "".join(out).replace(" ", "").replace("-", "").endswith("abd")
    merge = after_abd and rng.random() < 0.7
    if not after_abd and rng.random() < scheme.article_drop:
        return ""
    vowel = _draw(_opts(("u", 0.5), ("e", 0.3), ("a", 0.2)), rng) if merge else ""
    vowel = vowel or _draw(scheme.article, rng)
    first = tokens[nxt] if nxt < len(tokens) else ""
    if nxt < len(tokens) and is_class[nxt]:
        first = {"sh": "sh", "th": "t", "dh": "d"}.get(first, "")
    consonant = first if first in _SUN and rng.random() < scheme.assimilate else "l"
    joiners = scheme.article_join
    if merge:
        if out and out[-1] in (" ", "-", ""):
            out[-1] = ""
        joiners = _opts(("", 0.5), (" ", 0.5))
    if first == "l":  # abd al-lah: the article's l runs into the name's
        return vowel + consonant
    return vowel + consonant + _draw(joiners, rng)


# -- inventories: (canonical, weight); weights are relative frequencies (Zipf-like) -------------
def _zipf(names: str, exponent: float = 0.9) -> tuple[tuple[str, float], ...]:
    items = names.split()
    return tuple((n, 1.0 / (k + 1) ** exponent) for k, n in enumerate(items))


_ARABIC_MALE = _zipf(
    "m{o_u}{h}amm{a_e}d {a_e}{h}m{a_e}d m{a_e}{h}m{uu}d {ayn}{o_u}m{a_e}r {ayn}ali "
    "{h}as{a_e}n {h}{o_u}s{a_e}yn {y}{uu}s{uu}f ibr{a_e}h{ii}m m{uu}sa {kh}al{ii}d "
    "abd{sep}{art}la{fh} abd{sep}{art}ra{h}m{a_e}n abd{sep}{art}{q}adir abd{sep}{art}kar{ii}m "
    "{y}{a_e}{h}{y}a {h}amza {ayn}{o_u}{th}m{a_e}n s{a_e}l{ii}m {kh}al{ii}l {ii}sma{ayn}{ii}l "
    "m{o_u}stafa {sh}ar{ii}f sa{ayn}{ii}d {j}amal na{j}{ii}b {h}am{ii}d {w}al{ii}d {y}as{ii}n "
    "r{a_e}{sh}{ii}d {dh}iy{a_e}b {h}ab{ii}b {q}as{ii}m f{a_e}{y}sal ayman"
)
_ARABIC_FEMALE = _zipf(
    "fat{ii}m{ta} {ayn}a{y}{sh}{ta} m{a_e}r{y}am {kh}ad{ii}{j}{ta} z{a_e}{y}nab am{ii}n{ta} "
    "{h}al{ii}m{ta} {kh}{a_e}d{ii}{j}{ta} {h}aw{w}a sa{ayn}{ii}d{ta} {y}asm{ii}n nur l{a_e}{y}la "
    "{sh}a{y}ma ra{h}ma {h}an{ii}fa {j}am{ii}la {h}ayat sal{ii}ma r{uu}q{ay}a".replace(
        "{ay}", "{a_e}{y}"
    )
)
_SOMALI_PASHTO_MALE = _zipf(
    "m{o_u}{h}amm{a_e}d {ayn}abdi {ayn}abd{sep}{art}la{fh} far{a_e}{h} {h}as{a_e}n {ayn}ali "
    "{w}arsame {y}{uu}s{uu}f gul {kh}an {sh}ah {gh}ulam {q}adir {sh}er {a_e}{h}m{a_e}d "
    "nur z{a_e}lma{y} {h}ab{ii}b {w}a{h}{ii}d far{ii}d na{j}{ii}b {j}a{w}ad {h}ama{y}{uu}n "
    "kar{ii}m {ii}sa da{ayn}{uu}d {ayn}{o_u}m{a_e}r ma{h}amud {h}ussen"
)
_SOMALI_PASHTO_FEMALE = _zipf(
    "fat{ii}m{ta} {h}a{w}{w}a {ayn}a{y}{sh}{ta} {h}al{ii}m{ta} {kh}ad{ii}{j}{ta} m{a_e}r{y}am "
    "am{ii}n{ta} fa{ayn}{ii}sa nasr{ii}n gulal{a_e}{y} z{a_e}r{gh}{uu}na par{w}ana sh{a_e}b{a_e}na "
    "maryam{sep}gul {h}abiba mal{a_e}la {ayn}asha {h}odan {ii}ft{ii}n sahra"
)
_CYRILLIC_MALE = _zipf(
    "{o_a}le{ks}andr andr{iy} s{a_e}r{g_h}{iy} {v}olod{y_i}m{y_i}r dm{y_i}tro {yu}r{iy} "
    "m{y_i}kola {ye}{v}{g_h}en {v}ikt{o_a}r {v}as{y_i}l i{v}an ma{ks}{y_i}m {o_a}le{g_h} "
    "{ts}{y_i}mur {y}aroslav b{o_a}{h}dan roman pa{v}lo {v}italiy petro an{a_e}tol{iy}"
)
_CYRILLIC_FEMALE = _zipf(
    "{o_a}l{ye}na tet{ya}na nat{a_e}l{iy}a {yu}l{iy}a {o_a}ksana {y_i}r{y_i}na kat{ye}r{y_i}na "
    "s{v}itlana {o_a}l{g_h}a an{a_e}stas{iy}a {v}ikt{o_a}r{iy}a mar{iy}a {ye}l{y_i}za{v}eta "
    "hal{y_i}na l{yu}dm{y_i}la dar{iy}a {zh}anna"
)
_ARABIC_FAMILY = _zipf(
    "{art}{h}as{a_e}n {art}{ayn}ali {a_e}{h}m{a_e}d m{o_u}{h}amm{a_e}d {art}{kh}at{ii}b "
    "{h}add{a_e}d {art}na{j}{j}ar {q}as{ii}m {dh}{ii}b {y}as{ii}n {art}{sh}am{ii} "
    "{art}{h}al{a_e}bi "
    "{art}r{a_e}{sh}{ii}d {ayn}abd{sep}{art}la{fh} {art}{ayn}{o_u}mar{ii} {art}{h}{uu}s{a_e}{y}ni "
    "{kh}al{ii}l {art}masr{ii} {ayn}{o_u}{th}man {art}{h}ak{ii}m {art}d{a_e}r{ayn}a{w}i "
    "ibr{a_e}h{ii}m m{uu}sa {art}{sh}ar{ii}f {art}{kh}al{ii}l{ii} {art}tam{ii}m{ii} {h}amdan "
    "{art}{y}{uu}s{uu}f {art}{q}ur{a_e}{sh}i salih{ii} {art}{ayn}abbas{ii} mans{uu}r nas{ii}r",
    0.7,
)
_SOMALI_PASHTO_FAMILY = _zipf(
    "{h}as{a_e}n far{a_e}{h} {w}arsame {ayn}abdi {ayn}ali {y}{uu}s{uu}f m{o_u}{h}amm{a_e}d "
    "ahmed{sep}zay {y}{uu}s{uu}f{sep}zay popal{sep}zay durrani {kh}an {kh}an{sep}zada safi "
    "{sh}in{w}ari m{o_u}{h}mand niazi kakar {h}a{q}ani {ayn}{o_u}m{a_e}r jama {ayn}{ii}s{a_e} "
    "{h}ir{sh}i guled {ayn}ilmi du{ayn}ale {w}ardak s{a_e}dat noori rahimi {h}aidari",
    0.7,
)
_CYRILLIC_FAMILY = _zipf(
    "k{o_a}{v}alenko {sh}ev{ch}enko bondarenko tka{ch}enko kra{v}{ch}enko k{o_a}{v}al{ch}uk "
    "bo{y}ko mel{soft}n{y_i}k {kh}ar{ch}enko l{y_i}senko {ts}{y_i}bulsk{iy} mor{o_a}z "
    "{sh}{v}e{ts} {o_a}l{iy}n{y_i}k rudenko sa{v}{ch}enko p{o_a}l{iy}ak {v}ol{o_a}{sh}{y_i}n "
    "{zh}ur{a_e}{v}el kuz{soft}menko {kh}omenko mar{ch}enko p{o_a}p{o_a}{v}{y_i}{ch} "
    "{ya}kovenko {yu}s{ch}enko hr{y_i}{ts}enko",
    0.7,
)
_PLACES = _zipf(
    "{art}{h}as{a_e}ka {h}alab {h}oms d{ye}r{sep}{art}zor m{o_u}s{uu}l {kh}ark{iy}{v} "
    "mar{ii}upol kab{uu}l {q}and{a_e}har {kh}ost {j}alalabad m{o_u}{q}di{sh}{uu} "
    "baydabo kismayo dadaab kakuma {a_e}{ayn}zaz {y}armuk rafa{h} {j}ubba",
    0.8,
)

INVENTORIES: MappingProxyType[str, dict[str, tuple[tuple[str, float], ...]]] = MappingProxyType(
    {
        "arabic": {"male": _ARABIC_MALE, "female": _ARABIC_FEMALE, "family": _ARABIC_FAMILY},
        "somali_pashto": {
            "male": _SOMALI_PASHTO_MALE,
            "female": _SOMALI_PASHTO_FEMALE,
            "family": _SOMALI_PASHTO_FAMILY,
        },
        "cyrillic": {
            "male": _CYRILLIC_MALE,
            "female": _CYRILLIC_FEMALE,
            "family": _CYRILLIC_FAMILY,
        },
        "places": {"place": _PLACES},
    }
)
