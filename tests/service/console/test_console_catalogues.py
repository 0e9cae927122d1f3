"""The console's languages and templates, read as files: every string translated, every
catalogue current, no text of a template outside gettext, no inline script or style.

None of these needs the service: they read ``service/console`` (templates, static files, the
``.po`` catalogues and the ``.mo`` files compiled from them) with Babel and Jinja2.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from starlette.requests import Request

from service.console import i18n
from service.console.assets import ASSETS, STATIC
from service.console.i18n import LOCALES, Formats, MissingCatalogueError, is_rtl, negotiate
from service.console.rendering import TEMPLATES, environment

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))
TRANSLATED = ("fr", "ar")


def _catalogue(locale: str):
    with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / "caselink.po").open("rb") as f:
        return read_po(f, locale=locale)


def _extracted() -> set[str | tuple[str, str]]:
    """Every message of the console's sources, as ``make i18n`` extracts them (babel.cfg)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def _ids(catalogue) -> set[str | tuple[str, str]]:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalogue if m.id}


# -- catalogues ---------------------------------------------------------------------------------
@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_string_has_a_translation(locale):
    catalogue = _catalogue(locale)
    untranslated, fuzzy, placeholders = [], [], []
    for m in catalogue:
        if not m.id:
            continue
        forms = [m.string] if isinstance(m.string, str) else list(m.string)
        if not forms or not all(f.strip() for f in forms):
            untranslated.append(m.id)
        if m.fuzzy:
            fuzzy.append(m.id)
        wanted = set(PLACEHOLDER.findall(m.id if isinstance(m.id, str) else " ".join(m.id)))
        for form in forms:
            got = set(PLACEHOLDER.findall(form))
            # a plural form may leave the number out ("يومان", two days); nothing else may
            if not got <= wanted or (isinstance(m.id, str) and got != wanted):
                placeholders.append(m.id)
    assert untranslated == [], f"{locale}: untranslated (run make i18n, then translate)"
    assert fuzzy == [], f"{locale}: fuzzy translations to review"
    assert placeholders == [], f"{locale}: placeholders differ from the English"
    assert list(catalogue.check()) == []  # Babel's own checks: python-format, plural forms


@pytest.mark.parametrize("locale", LOCALES)
def test_each_catalogue_holds_exactly_the_strings_of_the_console(locale):
    extracted, held = _extracted(), _ids(_catalogue(locale))
    assert extracted - held == set(), "strings of the console missing: run `make i18n`"
    assert held - extracted == set(), "strings no longer in the console: run `make i18n`"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalogues_are_those_of_the_po_files(locale):
    compiled = i18n.load_catalogues()[locale]
    for m in _catalogue(locale):
        if not m.id:
            continue
        if isinstance(m.id, str):
            assert compiled.gettext(m.id) == (m.string or m.id), "run `make catalogues`"
        else:
            assert compiled.ngettext(m.id[0], m.id[1], 7) in (*m.string, m.id[1])


def test_a_missing_catalogue_stops_the_console_naming_it(tmp_path, monkeypatch):
    for locale in ("en", "fr"):
        (tmp_path / locale / "LC_MESSAGES").mkdir(parents=True)
        shutil.copy(i18n.catalogue_path(locale), tmp_path / locale / "LC_MESSAGES")
    with pytest.raises(MissingCatalogueError) as refused:
        i18n.load_catalogues(tmp_path)
    message = str(refused.value)
    assert str(tmp_path / "ar" / "LC_MESSAGES" / "caselink.mo") in message
    assert "fr" not in message.split("are missing")[0].replace(str(tmp_path), "")
    assert "make catalogues" in message

    from service._settings import Settings
    from service.api.app import create_app

    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    with pytest.raises(MissingCatalogueError, match=r"ar/LC_MESSAGES/caselink\.mo"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))


# -- templates and static files -------------------------------------------------------------
def _flattened(source: str) -> str:
    """The template with every Jinja2 tag and expression replaced by ``\\x00``: what is left
    is the HTML written in the template itself."""
    env = environment("en", i18n.load_catalogues()["en"])
    out = []
    for _line, kind, value in env.lex(source):
        out.append(value if kind == "data" else "\x00")
    return "".join(out)


VISIBLE_ATTRIBUTES = re.compile(r'\b(title|alt|placeholder|aria-label|label)="([^"]*)"')


@pytest.mark.parametrize("template", TEMPLATE_FILES, ids=lambda p: p.name)
def test_no_text_of_a_template_is_outside_gettext(template):
    html = _flattened(template.read_text(encoding="utf-8"))
    for attribute, value in VISIBLE_ATTRIBUTES.findall(html):
        assert not re.search(r"[^\W\d_]", value), f"{template.name}: {attribute}={value!r}"
    text = re.sub(r"<!--.*?-->", " ", html, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text)  # tags, attributes and all
    text = re.sub(r"&\w+;|&#\d+;", " ", text)
    words = re.findall(r"[^\W\d_]+", text)
    assert words == [], f"{template.name}: text outside {{{{ _(...) }}}}: {words}"


def _files() -> list[Path]:
    return [*TEMPLATE_FILES, *(STATIC / name for name in ASSETS)]


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_no_inline_script_or_style_and_nothing_from_elsewhere(path):
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", text, flags=re.S | re.I):
            assert tag.strip() == "", f"{path.name}: an inline script"
        assert re.findall(r"<script\b(?![^>]*\bsrc=)", text, flags=re.I) == []
        assert "<style" not in text.lower(), f"{path.name}: a style element"
        assert not re.search(r"\sstyle\s*=", text, flags=re.I), f"{path.name}: a style attribute"
        assert not re.search(r"\son[a-z]+\s*=", text, flags=re.I), f"{path.name}: an on* handler"
        assert "javascript:" not in text.lower()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.I), (
        f"{path.name}: an address on another host"
    )
    if path.suffix == ".js":
        for risky in ("eval(", "new Function", "innerHTML", "document.write"):
            assert risky not in text, f"{path.name}: {risky}"
    if path.suffix == ".css":
        assert "@import" not in text and "url(" not in text


def test_the_stylesheet_uses_logical_properties_so_it_mirrors():
    css = (STATIC / "console.css").read_text(encoding="utf-8")
    physical = re.findall(
        r"(?<![\w-])(margin|padding|border)-(left|right|top|bottom)\b|"
        r"(?<![\w-])(left|right|top|bottom)\s*:|text-align:\s*(left|right)|float:\s*(left|right)",
        css,
    )
    assert physical == [], "use margin-inline-start, inset-inline-end, text-align: start, ..."


# -- language of a request, dates and numbers ---------------------------------------------------
def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/console", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "en"),
        ({"Accept-Language": "fr-FR,fr;q=0.9"}, "fr"),
        ({"Accept-Language": "de;q=1, ar-SY;q=0.8, fr;q=0.5"}, "ar"),
        ({"Accept-Language": "fr;q=0, en;q=0.1"}, "en"),
        ({"Accept-Language": "*"}, "en"),
        ({"Accept-Language": "ar", "Cookie": "caselink_lang=fr"}, "fr"),
        ({"Accept-Language": "ar", "Cookie": "caselink_lang=xx"}, "ar"),
        ({"Accept-Language": "fr;q=nonsense, ar"}, "ar"),
    ],
)
def test_the_language_of_a_request(headers, expected):
    assert negotiate(_request(headers)) == expected


def test_arabic_is_right_to_left_and_formats_differ_per_language():
    assert [is_rtl(loc) for loc in LOCALES] == [False, False, True]
    assert Formats("en").number(1234567.5) == "1,234,567.5"
    assert Formats("fr").number(1234567.5).replace("\u202f", " ") == "1 234 567,5"
    assert Formats("en").percent(0.256, 1) == "25.6%"
    assert Formats("fr").percent(0.256, 1).replace("\u202f", " ").replace("\xa0", " ") == "25,6 %"
    assert Formats("en").percent(1.0) == "100%" and Formats("en").percent(0.9996, 1) == "100%"
    assert Formats("en").datetime(None) == ""
