"""``caselink encode`` in French and Arabic: every message translated, the codes and row numbers
as in English, no cell value in any language, and English when a language cannot be used.

The catalogue tests read ``bloom/locale`` with Babel (a build requirement; the encoder itself
reads the compiled ``.mo`` files with the standard library). The others run the command in a
fresh interpreter, as a field officer does, with ``--lang`` or ``CASELINK_LANG``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bloom import _i18n
from bloom._rules import rows_text
from tests import forkserver
from tests.bloom.test_encode_register_errors import (
    SECRET_HEX,
    assert_no_values,
    problems_file,
    register,
    schema_file,
    stderr,
    write,
)

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w*)\}")
TRANSLATED = ("fr", "ar")


def encode(tmp_path: Path, *args: object, env: dict[str, str] | None = None):
    """``caselink encode`` in a process of its own (tests/forkserver.py), ``env`` added."""
    base = {k: v for k, v in os.environ.items() if k != _i18n.ENV}
    env = {**base, "CASELINK_SECRET": SECRET_HEX, "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = ["caselink", "encode", "--agency", "a", *map(str, args)]
    cmd += ["--out", str(tmp_path / "out.parquet")]
    return forkserver.run(cmd, env=env, cwd=tmp_path, text=False)


def _catalogue(locale: str):
    path = _i18n.LOCALE_DIR / locale / "LC_MESSAGES" / f"{_i18n.DOMAIN}.po"
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _key(message_id, context):
    return (context, message_id if isinstance(message_id, str) else tuple(message_id))


def _extracted() -> set:
    """Every message of bloom, as ``make i18n`` extracts it (babel-encode.cfg)."""
    with (ROOT / "babel-encode.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    return {
        _key(message, context)
        for _file, _line, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map
        )
    }


# -- the catalogues -------------------------------------------------------------------------------
@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_of_encode_has_a_translation_with_the_same_placeholders(locale):
    catalogue = _catalogue(locale)
    untranslated, fuzzy, placeholders = [], [], []
    for m in catalogue:
        if not m.id:
            continue
        forms = [m.string] if isinstance(m.string, str) else list(m.string)
        if len(forms) != (1 if isinstance(m.id, str) else catalogue.num_plurals):
            untranslated.append(m.id)
        # a separator may be a space (French groups thousands with a narrow no-break space)
        if not forms or not all(f if m.context else f.strip() for f in forms):
            untranslated.append(m.id)
        if m.fuzzy:
            fuzzy.append(m.id)
        wanted = set(PLACEHOLDER.findall(m.id if isinstance(m.id, str) else m.id[-1]))
        if any(set(PLACEHOLDER.findall(form)) != wanted for form in forms):
            placeholders.append(m.id)
    assert untranslated == [], f"{locale}: untranslated (run make i18n, then translate)"
    assert fuzzy == [], f"{locale}: fuzzy translations to review"
    assert placeholders == [], f"{locale}: placeholders differ from the English"
    assert list(catalogue.check()) == []  # Babel's own checks: plural forms


@pytest.mark.parametrize("locale", TRANSLATED)
def test_each_catalogue_holds_exactly_the_messages_of_bloom(locale):
    extracted = _extracted()
    held = {_key(m.id, m.context) for m in _catalogue(locale) if m.id}
    assert extracted - held == set(), "messages of bloom missing: run `make i18n`"
    assert held - extracted == set(), "messages no longer in bloom: run `make i18n`"
    with (_i18n.LOCALE_DIR / f"{_i18n.DOMAIN}.pot").open("rb") as f:
        template = {_key(m.id, m.context) for m in read_po(f) if m.id}
    assert template == extracted


def test_a_language_without_its_catalogue_speaks_english_with_a_notice(tmp_path):
    try:
        notice = _i18n.use_language("fr", directory=tmp_path)  # no catalogue there
        assert notice is not None and "English" in notice and "fr" in notice
        assert "\n" not in notice
        assert rows_text([3, 7]) == "2 rows (3, 7)"
        notice = _i18n.use_language("de")
        assert notice is not None and "'de'" in notice and _i18n.language() == "en"
        assert _i18n.use_language("fr_FR.UTF-8") is None and _i18n.language() == "fr"
        assert (
            rows_text(list(range(1, 13))) == "12 lignes (1, 2, 3, 4, 5, 6, 7, 8, 9, 10 et 2 autres)"
        )
        assert _i18n.use_language("ar") is None
        assert rows_text([3, 7, 12]) == "3 صفوف (3، 7، 12)"
    finally:
        _i18n.use_language(None)
    assert rows_text([3, 7]) == "2 rows (3, 7)"


# -- the command, as a field officer runs it -------------------------------------------------------
def _bad_register(tmp_path: Path) -> list[list[str]]:
    rows = register(60)
    rows[4] = [*rows[4], "Extrazq"]  # row 5: a field too many
    for k in range(10, 33):  # rows 11-33: 23 invalid dates, more than a message lists
        rows[k][5] = "1990-13-45"
    rows[40][0] = rows[39][0]  # rows 40 and 41: the same ref
    write(tmp_path / "in.csv", rows)
    return rows


def _run(tmp_path: Path, lang: str | None, env_lang: str | None = None):
    args = ["--schema", schema_file(tmp_path), "--input", "in.csv", "--id-column", "ref"]
    args += ["--problems-out", f"p-{lang or env_lang or 'en'}.csv"]
    if lang is not None:
        args += ["--lang", lang]
    return encode(tmp_path, *args, env={"CASELINK_LANG": env_lang} if env_lang else None)


def _codes_and_rows(text: str) -> dict[str, list[int]]:
    """Each problem's code and the numbers its message lists after the code's sentence."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"\s*-\s+(\w+): (.*)", line)
        if m:
            found[m.group(1)] = [int(n) for n in re.findall(r"\d+", m.group(2).rsplit("(", 1)[-1])]
    return found


def test_french_and_arabic_say_the_same_codes_and_rows_as_english(tmp_path):
    rows = _bad_register(tmp_path)
    runs = {
        "en": _run(tmp_path, None),
        "fr": _run(tmp_path, "fr"),
        "ar": _run(tmp_path, None, env_lang="ar"),
    }
    said = {lang: stderr(r) for lang, r in runs.items()}
    for lang, r in runs.items():
        assert r.returncode == 2, said[lang]
        assert "Traceback" not in said[lang]
        assert_no_values(said[lang], rows)
        assert "1990-13-45" not in said[lang]
    english = _codes_and_rows(said["en"])
    assert set(english) == {"too_many_fields", "invalid_date", "duplicate_ref"}
    assert english["too_many_fields"] == [5]
    assert english["invalid_date"][:20] == list(range(11, 31))
    for lang in TRANSLATED:
        assert _codes_and_rows(said[lang]) == english, said[lang]
    assert "cannot encode the input (3 problems)" in said["en"]
    assert "1 row (5)" in said["en"] and "and 3 more" in said["en"]
    fr = said["fr"]
    assert "erreur : impossible d'encoder le fichier (3 problèmes) :" in fr
    assert "lignes avec plus de champs que les 7 de l'en-tête" in fr
    assert "1 ligne (5)" in fr and "et 3 autres" in fr
    assert "lignes 40 et 41" in fr and "relancez avec --problems-out" not in fr
    assert "Toutes les lignes de chaque problème sont listées dans p-fr.csv" in fr
    ar = said["ar"]
    assert "خطأ: تعذّر ترميز الملف (3 مشكلات):" in ar
    assert "صفوف فيها حقول أكثر من حقول الترويسة وعددها 7" in ar
    assert "1 صف (5)" in ar and "و3 غيرها" in ar and "الصفان 40 و41" in ar
    assert "cannot encode" not in fr + ar and "rows with" not in fr + ar
    # the problems file is for scripts: the same in every language
    listed = [(tmp_path / f"p-{lang}.csv").read_text("utf-8") for lang in runs]
    assert listed[0] == listed[1] == listed[2]
    assert problems_file(tmp_path / "p-ar.csv")[0]["problem"] == "too_many_fields"


def test_errors_before_the_register_is_read_are_translated(tmp_path):
    write(tmp_path / "in.csv", register(3))
    r = encode(tmp_path, "--schema", "nothere.json", "--input", "in.csv", "--lang", "fr")
    assert r.returncode == 2
    assert "erreur : schéma de liaison invalide : nothere.json n'existe pas" in stderr(r)
    r = encode(
        tmp_path, "--schema", schema_file(tmp_path), "--input", "in.csv", "--secret", "no.key",
        env={"CASELINK_LANG": "ar"},
    )  # fmt: skip
    assert r.returncode == 2 and "ملف السر no.key غير موجود" in stderr(r)


def test_an_unknown_language_encodes_in_english_with_a_one_line_notice(tmp_path):
    write(tmp_path / "in.csv", register(5))
    r = encode(tmp_path, "--schema", schema_file(tmp_path), "--input", "in.csv", "--lang", "de")
    err = stderr(r)
    assert r.returncode == 0, err
    assert "notice: messages are in English: 'de'" in err
    assert "encoded 5 records into" in err
