"""Normalisation and tokenising: from one raw cell to the set of tokens that get hashed.

Everything here works on a single value; the encoder calls it once per *distinct* value of a
column, so its cost does not grow with repeated names. Tokens carry a tag naming their
tokeniser (``q2p``, ``ph:soundex``, ``d``...) so two tokenisers never collide in one domain.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jellyfish

from bloom._schema import Field, Tokeniser

__all__ = [
    "FOLDS",
    "ParsedDate",
    "field_tokens",
    "fold_romanisation",
    "normalise_text",
    "parse_date",
    "parse_date_with_format",
    "parse_number",
    "salt_values",
    "slot_weight",
]

ParsedDate = tuple[int, int | None, int | None]  # (year, month or None, day or None)

_PAD_START, _PAD_END = "\x02", "\x03"
_MIN_YEAR, _MAX_YEAR = 1850, 2150
_ZERO_FILLED = re.compile(r"^(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})$")
_PHONETIC = {
    "soundex": jellyfish.soundex,
    "metaphone": jellyfish.metaphone,
    "nysiis": jellyfish.nysiis,
    "match_rating": jellyfish.match_rating_codex,
}


# -- romanisation folding ---------------------------------------------------------------
# One spelling per sound for the common ways of writing Arabic, Somali, Pashto/Dari and
# Cyrillic names in Latin letters: the many spellings of one sound map to one, longest first.
_FOLD_RULES = {
    "shch": "sh",
    "szcz": "sh",
    "dsch": "j",
    "tsch": "sh",
    "sch": "sh",
    "tch": "sh",
    "dzh": "j",
    "dj": "j",
    "zh": "j",
    "sh": "sh",
    "sz": "sh",
    "cz": "sh",
    "ch": "sh",
    "kh": "h",
    "gh": "g",
    "th": "t",
    "dh": "d",
    "ph": "f",
    "ck": "k",
    "tz": "ts",
    "ks": "ks",
    "x": "ks",
    "q": "k",
    "c": "k",
    "w": "v",
    "ou": "u",
    "oo": "u",
    "uu": "u",
    "ee": "i",
    "ie": "i",
    "aa": "a",
    "ey": "ai",
    "ay": "ai",
    "ei": "ai",
    "e": "a",
    "o": "u",
    "y": "i",
}
_FOLD = re.compile("|".join(sorted(map(re.escape, _FOLD_RULES), key=len, reverse=True)))
_LONG_I = re.compile(r"i[iyj]|y[iy]")  # iy, ii, ij: one long i (Yuriy, Iurii, Jurij)
_W_GLIDE = re.compile(r"(?:ou|w)(?=[aeiouy])")  # French ou before a vowel is a w (Oualid)
_Y_GLIDE = re.compile(r"(?:(?<![aeiou])[iy]|(?<=[aeiou])y)(?=[aeiou])")  # Iasmin, Tetiana
_ABD = re.compile(r"^abd[aeiou]+l")  # Abdel-, Abdal-, Abdoul- ... are Abdul-
_ARTICLE = re.compile(r"^[aeu](l|t|d|r|z|s|n|sh|th|dh)$")  # al, el, ul; ar, as, ash ...
_DOUBLE = re.compile(r"(.)\1+")
_FINAL_H = re.compile(r"(?<=[aiu])h$")  # Fatimah, Abdullah: a silent final h
FOLDS = ("none", "romanisation")


def _fixpoint(step: Callable[[str], str], text: str, rounds: int = 8) -> str:
    """``step`` applied until it changes nothing (at most ``rounds`` times)."""
    for _ in range(rounds):
        folded = step(text)
        if folded == text:
            break
        text = folded
    return text


def _fold_word(word: str) -> str:
    """One word folded; the rules are applied until nothing changes (a fold can make a new
    digraph: ``qh`` gives ``kh``, which gives ``h``), so folding a folded word is a no-op."""
    return _fixpoint(_fold_once, word)


def _fold_once(word: str) -> str:
    w = "h" + word[1:] if word.startswith("x") else word  # Somali Xasan; inside, x is ks
    w = _ABD.sub("abdul", _LONG_I.sub("i", w))
    w = _Y_GLIDE.sub("Y", _W_GLIDE.sub("W", w))
    w = _FOLD.sub(lambda m: _FOLD_RULES[m.group(0)], w).replace("Y", "y").replace("W", "v")
    w = _DOUBLE.sub(r"\1", w)
    return _FINAL_H.sub("", w) if len(w) > 3 else w


def _is_article(part: str, following: str) -> bool:
    """A separate Arabic article: al-, el-, ul-, or one assimilated to the next sound (ar-R)."""
    m = _ARTICLE.match(part)
    return m is not None and (m.group(1) == "l" or following.startswith(m.group(1)))


def fold_romanisation(text: str) -> str:
    """Fold romanisation variants of a normalised (lower-case, space-separated) name.

    Consonant spellings of one sound become one (kh/h and an initial x, q/k/c, j/dj/zh/dsch,
    sh/ch/sch/tch/cz, dh/d, th/t, w/v ...), vowels fold to a, i, u (ou/oo/u/o, ee/ie/ii/iy/i/y,
    a/e, ay/ei), doubled letters are written once, a silent final h goes, a separate article
    before a name part goes (``al rashid``, ``ar rashid``) and ``abd`` before it, or
    ``abdel``/``abdal``, becomes ``abdul``. The passes repeat until nothing changes, so folding
    a folded name changes nothing.
    """
    return _fixpoint(_fold_parts, text)


def _fold_parts(text: str) -> str:
    parts = text.split(" ")
    out: list[str] = []
    for k, part in enumerate(parts):
        nxt = parts[k + 1] if k + 1 < len(parts) else ""
        if nxt and _is_article(part, nxt):
            if out and out[-1] == "abd":
                out[-1] = "abdul"
            continue
        out.append("abdul" if part == "abd" and nxt else part)
    return " ".join(_fold_word(p) for p in out if p)


def normalise_text(value: str, opts: dict[str, Any]) -> str:
    """Apply a field's normalisation; an empty result means the value is missing."""
    text = unicodedata.normalize("NFKD" if opts["strip_accents"] else opts["unicode"], value)
    if opts["strip_accents"]:
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
        text = unicodedata.normalize(opts["unicode"], text)
    if opts["casefold"]:
        text = text.casefold()
    punct = opts["punctuation"]
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] == "C":  # control and format characters never carry meaning here
            out.append(" " if ch in "\t\n\r" else "")
        elif cat[0] in "PS" and punct != "keep":
            out.append(" " if punct == "space" else "")
        else:
            out.append(ch)
    parts = "".join(out).split()
    particles = opts.get("particles") or ()
    if particles:
        kept = [p for p in parts if p not in particles]
        parts = kept or parts  # a name made only of particles stays as it is
    text = "".join(parts) if opts["whitespace"] == "remove" else " ".join(parts)
    return fold_text(text, opts)


def fold_text(text: str, opts: dict[str, Any]) -> str:
    """A normalised value folded as the field's ``fold`` option says (``none``: unchanged)."""
    return fold_romanisation(text) if text and opts.get("fold") == "romanisation" else text


def parse_date(text: str, formats: tuple[str, ...]) -> ParsedDate | None:
    """Parse a date; year-only and year-month dates keep the unknown parts as None.

    Zero-filled parts (``1980-00-00``, ``19800700``) are read as unknown, which is how many
    registration systems record an estimated birth date.
    """
    return parse_date_with_format(text, formats)[0]


def parse_date_with_format(text: str, formats: tuple[str, ...]) -> tuple[ParsedDate | None, int]:
    """:func:`parse_date` and the index of the format that read the date (-1: none did; a
    zero-filled date is read by none)."""
    text = text.strip()
    if not text:
        return None, -1
    for k, fmt in enumerate(formats):
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        month = dt.month if ("%m" in fmt or "%b" in fmt or "%B" in fmt) else None
        day = dt.day if "%d" in fmt else None
        return ((dt.year, month, day), k) if _MIN_YEAR <= dt.year <= _MAX_YEAR else (None, -1)
    m = _ZERO_FILLED.match(text)
    if m:
        year, month, day = (int(g) for g in m.groups())
        if _MIN_YEAR <= year <= _MAX_YEAR and month <= 12 and day == 0:
            return (year, month or None, None), -1
    return None, -1


def year_only_if_placeholder(parsed: ParsedDate | None, field: Field) -> ParsedDate | None:
    """A date whose day and month are a placeholder for 'unknown' (01-01) keeps its year only."""
    if parsed is not None and (parsed[1], parsed[2]) in field.year_only_day_months:
        return (parsed[0], None, None)
    return parsed


def parse_number(text: str) -> float | None:
    try:
        x = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _qgrams(text: str, tok: Tokeniser) -> list[str]:
    chunks = text.split(" ") if tok.per_part else [text]
    grams = []
    for chunk in chunks:
        s = f"{_PAD_START}{chunk}{_PAD_END}" if tok.padding else chunk
        if len(s) < tok.q:
            grams.append(s)
        else:
            grams.extend(s[i : i + tok.q] for i in range(len(s) - tok.q + 1))
    return grams


def _phonetic(text: str, tok: Tokeniser) -> list[str]:
    encode = _PHONETIC[tok.algorithm]
    # phonetic codes are defined for Latin letters; other scripts rely on the q-grams
    return [encode(p) for p in text.split(" ") if p.isascii() and p.isalpha()]


def _date_tokens(d: ParsedDate, tok: Tokeniser) -> list[str]:
    year, month, day = d
    out = []
    for part in tok.parts:
        if part == "year":
            out.append(f"y{year}")
        elif part == "year_window":  # two overlapping 2-year windows: +-1 year shares one
            out += [f"w0:{year // 2}", f"w1:{(year + 1) // 2}"]
        elif month is None:
            continue
        elif part == "month":
            out.append(f"m{month}")
        elif part == "year_month":
            out.append(f"ym{year}-{month}")
        elif day is None:
            continue
        elif part == "day":
            out.append(f"d{day}")
        elif part == "day_month":  # unordered pair: survives a day/month swap
            out.append(f"dm{min(day, month)}-{max(day, month)}")
        elif part == "full":
            out.append(f"f{year}-{month}-{day}")
    return out


def _number_repr(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


def _tokens_for(value: Any, field: Field, tok: Tokeniser) -> list[str]:
    if tok.kind == "qgram":
        return _qgrams(value, tok)
    if tok.kind == "phonetic":
        return _phonetic(value, tok)
    if tok.kind == "date":
        return _date_tokens(value, tok)
    if tok.kind == "numeric":
        return [f"b0:{math.floor(value / tok.width)}", f"b1:{math.floor(value / tok.width + 0.5)}"]
    # exact
    if field.type == "date":
        y, m, d = value
        return [f"{y}-{m or 0}-{d or 0}"]
    if field.type == "number":
        return [_number_repr(value)]
    return value.split(" ") if tok.per_part else [value]


def parse_value(raw: str, field: Field) -> tuple[Any, str]:
    """(parsed value, status) where status is ``ok``, ``missing``, ``invalid`` or ``unknown``
    (a category value that is none of the schema's values or spellings)."""
    if field.type == "date":
        if not raw.strip():
            return None, "missing"
        parsed = year_only_if_placeholder(parse_date(raw, field.date_formats), field)
        return (parsed, "ok") if parsed else (None, "invalid")
    if field.type == "number":
        if not raw.strip():
            return None, "missing"
        num = parse_number(raw)
        return (num, "ok") if num is not None else (None, "invalid")
    assert field.normalise is not None
    text = normalise_text(raw, field.normalise)
    if text and field.category_map:
        value = dict(field.category_map).get(text)
        return (value, "ok") if value is not None else (None, "unknown")
    return (text, "ok") if text else (None, "missing")


def field_tokens(parsed: Any, field: Field) -> list[tuple[Tokeniser, list[str]]]:
    """Per tokeniser, the distinct tagged tokens of one parsed value."""
    out = []
    for tok in field.tokenisers:
        if tok.weight == 0:
            continue
        toks = _tokens_for(parsed, field, tok)
        if toks:
            tag = tok.tag
            out.append((tok, [f"{tag}\x1f{t}" for t in dict.fromkeys(toks)]))
    return out


def salt_values(parsed: Any, field: Field, part: str) -> tuple[str, ...]:
    """The salts a record contributes, one per slot of the salt spec.

    ``year_window``: ``w0:<y//2>`` and ``w1:<(y+1)//2>`` -- two records born a year apart
    share one of them -- or ``w0:`` and ``w1:`` when the year is unknown. Otherwise the one
    salt of :func:`salt_value`.
    """
    if part != "year_window":
        return (salt_value(parsed, field, part),)
    if parsed is None:
        return ("w0:", "w1:")
    year = parsed[0]
    return (f"w0:{year // 2}", f"w1:{(year + 1) // 2}")


def slot_weight(weight: int, slot: int, slots: int) -> int:
    """A tokeniser's weight in one salt slot: the weight shared out, the first slots first."""
    return weight // slots + (1 if slot < weight % slots else 0)


def salt_value(parsed: Any, field: Field, part: str) -> str:
    """The salt a record contributes when this field salts the filters ('' if missing)."""
    if parsed is None:
        return ""
    if field.type == "date":
        y, m, d = parsed
        if part == "full":
            return f"{y}-{m or 0}-{d or 0}"
        chosen = {"year": y, "month": m, "day": d}[part]
        return "" if chosen is None else str(chosen)
    if field.type == "number":
        return _number_repr(parsed)
    return str(parsed)
