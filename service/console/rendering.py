"""The console's pages from Jinja2 templates: autoescaped, one environment per language.

Each language has its own :class:`jinja2.Environment` with its catalogue installed (new-style
gettext: ``{{ _("Signed in as %(agency)s", agency=name) }}`` escapes ``name``), and filters that
write dates and numbers its way: ``|when`` (a UTC time), ``|number``, ``|percent``. Templates
are read from ``templates/`` once and kept compiled. Nothing in a template may be inline
script or style (the Content-Security-Policy forbids it, and a test scans them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from babel.support import Translations

from service.console.i18n import LOCALES, NAMES, Formats, is_rtl

__all__ = ["TEMPLATES", "Renderer", "environment"]

TEMPLATES = Path(__file__).parent / "templates"


def environment(locale: str, translations: Translations) -> jinja2.Environment:
    """The environment of one language: its catalogue and its formats."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    formats = Formats(locale)
    env.filters.update(when=formats.datetime, number=formats.number, percent=formats.percent)
    env.globals.update(
        locale=locale,
        dir="rtl" if is_rtl(locale) else "ltr",
        languages=[(code, NAMES[code]) for code in LOCALES],
    )
    return env


class Renderer:
    """Renders a template in a language: ``render("agency/cases.html", "fr", page=...)``."""

    def __init__(self, catalogues: dict[str, Translations]) -> None:
        self.catalogues = catalogues
        self.environments = {loc: environment(loc, catalogues[loc]) for loc in LOCALES}

    def gettext(self, locale: str, message: str, **values: Any) -> str:
        """``message`` translated into ``locale`` (``%(name)s`` filled from ``values``)."""
        text = self.catalogues[locale].gettext(message)
        return text % values if values else text

    def render(self, template: str, locale: str, **context: Any) -> str:
        return self.environments[locale].get_template(template).render(**context)
