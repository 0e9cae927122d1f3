"""setuptools' build, with one step more: the console's catalogues compiled at install.

Everything else is declared in pyproject.toml. The console's translations are kept in the
repository as ``.po`` files (service/console/locale); the ``.mo`` files the service reads are
compiled from them here — into the build of a wheel, or into the source tree for an editable
install — and in a checkout by ``make catalogues``. They are never committed.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# the console's catalogues, and caselink encode's (read with the standard library's gettext:
# the light install has no Babel at run time)
LOCALES = (Path("service", "console", "locale"), Path("bloom", "locale"))


class BuildWithCatalogues(build_py):
    """``build_py``, then every ``<locale>/<lang>/LC_MESSAGES/*.po`` of :data:`LOCALES`
    compiled beside itself."""

    def run(self) -> None:
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        into = HERE if getattr(self, "editable_mode", False) else Path(self.build_lib)
        pos = [po for locale in LOCALES for po in (HERE / locale).glob("*/LC_MESSAGES/*.po")]
        for po in sorted(pos):
            with po.open("rb") as f:
                catalogue = read_po(f, locale=po.parent.parent.name)
            mo = into / po.relative_to(HERE).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with mo.open("wb") as f:
                write_mo(f, catalogue)  # fuzzy entries left out, as pybabel compile does


setup(cmdclass={"build_py": BuildWithCatalogues})
