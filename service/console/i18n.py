"""The console's languages: English, French and Arabic, from Babel/gettext catalogues.

The English strings are the message ids; ``locale/{en,fr,ar}/LC_MESSAGES/caselink.po`` are
kept in the repository (``make i18n`` extracts the strings and updates them) and compiled to
``caselink.mo`` at install — by ``make catalogues`` (part of ``make venv``) in a checkout, by
``setup.py``'s build step in a wheel. :func:`load_catalogues` refuses to start the console
when a compiled catalogue is missing, naming it (:class:`MissingCatalogueError`).

A request's language is the ``caselink_lang`` cookie set by the language selector, else the
best of ``Accept-Language`` (:func:`negotiate`), else English. Arabic is written right to left
(:func:`is_rtl`). Dates and numbers are formatted per language with Babel (:class:`Formats`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from starlette.requests import Request

__all__ = [
    "COOKIE",
    "DOMAIN",
    "LOCALES",
    "LOCALE_DIR",
    "Formats",
    "MissingCatalogueError",
    "N_",
    "is_rtl",
    "load_catalogues",
    "format_date",
    "format_number",
    "negotiate",
    "translator",
]

LOCALES = ("en", "fr", "ar")
DEFAULT = "en"
DOMAIN = "caselink"
COOKIE = "caselink_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
NAMES = {"en": "English", "fr": "Français", "ar": "العربية"}  # each in its own language


class MissingCatalogueError(RuntimeError):
    """A compiled catalogue (``.mo``) of the console is not installed."""


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for extraction only"
    """Mark ``message`` for the catalogues; it is translated where it is shown."""
    return message


def catalogue_path(locale: str, directory: Path | None = None) -> Path:
    return (directory or LOCALE_DIR) / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def load_catalogues(directory: Path | None = None) -> dict[str, Translations]:
    """Every language's compiled catalogue (from :data:`LOCALE_DIR` by default); raises
    :class:`MissingCatalogueError` naming each one missing (and how to make it)."""
    paths = {loc: catalogue_path(loc, directory) for loc in LOCALES}
    missing = [p for p in paths.values() if not p.is_file()]
    if missing:
        raise MissingCatalogueError(
            "the console's compiled catalogues "
            + ", ".join(str(p) for p in missing)
            + " are missing: they are made at install; in a checkout run `make catalogues` "
            "(or `pybabel compile -d service/console/locale -D caselink`), else reinstall "
            "caselink"
        )
    out = {}
    for loc, path in paths.items():
        with path.open("rb") as f:
            out[loc] = Translations(f, domain=DOMAIN)
    return out


@functools.cache
def translator(locale: str) -> Translations:
    """The catalogue of ``locale`` (one of :data:`LOCALES`), loaded once per process."""
    return load_catalogues()[locale]


def is_rtl(locale: str) -> bool:
    """Whether ``locale`` is written right to left (Arabic)."""
    return Locale.parse(locale).character_order == "right-to-left"


def _accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (q=0 dropped)."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > 0:
            ranked.append((-q, position, tag.replace("_", "-")))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(request: Request) -> str:
    """The language of a request: the selector's cookie, else ``Accept-Language``, else
    English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    wanted = _accepted(request.headers.get("accept-language", "")[:512])
    found = negotiate_locale(wanted, list(LOCALES), sep="-") if wanted else None
    if found is None:  # "fr-CA" where only "fr" is offered
        found = next(
            (w.split("-")[0].lower() for w in wanted if w.split("-")[0].lower() in LOCALES), None
        )
    return found or DEFAULT


@dataclass(frozen=True)
class Formats:
    """Dates and numbers written the way ``locale`` writes them."""

    locale: str

    def datetime(self, value: datetime | None) -> str:
        """A UTC time, with its zone named; empty for None."""
        if value is None:
            return ""
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return format_datetime(aware, "medium", tzinfo=UTC, locale=self.locale) + " UTC"

    def number(self, value: float | int | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def percent(self, value: float | None, digits: int = 0) -> str:
        """A fraction (0.256) as a percentage with at most ``digits`` decimals ("25,6 %")."""
        if value is None:
            return ""
        rounded = round(value, digits + 2)  # the locale's own pattern, at most ``digits``
        return format_percent(rounded, locale=self.locale, decimal_quantization=False)


def format_date(value: datetime | None, locale: str) -> str:
    """A UTC time as ``locale`` writes it (:meth:`Formats.datetime`)."""
    return Formats(locale).datetime(value)


def format_number(value: float | int | None, locale: str) -> str:
    """A number as ``locale`` writes it (:meth:`Formats.number`)."""
    return Formats(locale).number(value)
