"""The languages of ``caselink encode``'s messages: English, French and Arabic.

The English sentences are the message ids. Their translations are kept in the repository as
``locale/{fr,ar}/LC_MESSAGES/caselink-encode.po`` (``make i18n`` extracts the strings of
bloom and updates them) and compiled to ``.mo`` files at install -- by ``make catalogues`` in
a checkout, by ``setup.py``'s build step in a wheel. They are read here with the standard
library's :mod:`gettext`: the encoder is the light install and needs no Babel to run.

A message is translated when it is made, in the language :func:`use_language` chose for the
process (English until then, so the library and the service always speak English). Problem
codes (``invalid_date``...), options, column and field names, and row numbers stay as they
are in every language: they are what a script, a problems file or a colleague reads.
"""

from __future__ import annotations

import gettext as _gettext
from pathlib import Path

__all__ = [
    "DOMAIN",
    "ENV",
    "LOCALES",
    "LOCALE_DIR",
    "N_",
    "gettext",
    "language",
    "ngettext",
    "number",
    "pgettext",
    "use_language",
    "wanted_language",
]

DOMAIN = "caselink-encode"
LOCALES = ("en", "fr", "ar")
ENV = "CASELINK_LANG"
LOCALE_DIR = Path(__file__).parent / "locale"

_active: _gettext.NullTranslations = _gettext.NullTranslations()
_language = "en"


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for extraction only"
    """Mark ``message`` for the catalogue; it is translated where it is shown."""
    return message


def gettext(message: str) -> str:
    """``message`` in the language in use."""
    return _active.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for ``n`` in the language in use (Arabic has six)."""
    return _active.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the language in use, where ``context`` tells its use apart."""
    return _active.pgettext(context, message)


def number(n: int) -> str:
    """A count with its thousands grouped as the language in use groups them."""
    return f"{n:,}".replace(",", pgettext("thousands separator", ","))


def language() -> str:
    """The language messages are made in now."""
    return _language


def wanted_language(value: str | None) -> str | None:
    """The language a ``--lang`` or ``CASELINK_LANG`` value asks for: ``fr``, ``fr-CA``,
    ``fr_FR.UTF-8`` and ``FR`` all ask for ``fr``; None for none given."""
    if value is None or not value.strip():
        return None
    return value.strip().split(".")[0].replace("-", "_").split("_")[0].lower()


def use_language(value: str | None, directory: Path | None = None) -> str | None:
    """Make the process's messages in the language ``value`` asks for (English when None).

    Returns a one-line notice (in English: there is no catalogue to say it in) when that
    language cannot be used -- not one of :data:`LOCALES`, or its compiled catalogue is not
    installed -- and messages stay in English; never raises.
    """
    global _active, _language
    wanted = wanted_language(value)
    _active, _language = _gettext.NullTranslations(), "en"
    if wanted is None or wanted == "en":
        return None
    if wanted not in LOCALES:
        return (
            f"notice: messages are in English: '{value}' is not one of the languages of "
            f"caselink encode ({', '.join(LOCALES)})"
        )
    where = directory or LOCALE_DIR
    try:
        _active = _gettext.translation(DOMAIN, where, languages=[wanted])
    except OSError:  # no catalogue, or one that cannot be read
        mo = where / wanted / "LC_MESSAGES" / f"{DOMAIN}.mo"
        return (
            f"notice: messages are in English: the '{wanted}' catalogue ({mo}) is not installed "
            "(in a checkout: make catalogues)"
        )
    _language = wanted
    return None
