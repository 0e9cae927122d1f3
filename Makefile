# Every target sets itself up: a fresh clone needs only `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# mypy in a virtualenv of its own: the bench extra's clkhash pins mypy_extensions<0.5, which
# mypy refuses; it reads third-party types from the project's interpreter (--python-executable).
TYPES_VENV := .venv-types
TYPES_STAMP := $(TYPES_VENV)/.installed
export RAY_USAGE_STATS_ENABLED := 0
export RAY_AUTH_MODE := disabled
# These machines set PYTHONDONTWRITEBYTECODE=1: every Python process of a test run (each
# `caselink serve`, Ray worker and CLI run) then compiled our modules from source again,
# ~0.4 s of CPU per `import service`, and pytest rewrote every test module in each worker.
# Here they write and reuse bytecode (__pycache__, git-ignored): tests/service/core alone
# took 117 -> 99 s of CPU (cgroup, 2026-12-06).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv types-venv demo cluster-demo test test-fast lint format bench clean i18n catalogues

# The console's catalogues: the .po files are kept in the repository, the .mo files are
# compiled from them here (git-ignored; a wheel gets them from setup.py's build step).
LOCALE := service/console/locale
PO_FILES := $(wildcard $(LOCALE)/*/LC_MESSAGES/caselink.po)
# caselink encode's catalogues (bloom/locale, domain caselink-encode; fr and ar: English is
# the message ids), read at run time with the standard library's gettext
ENCODE_LOCALE := bloom/locale
ENCODE_DOMAIN := caselink-encode
ENCODE_PO_FILES := $(wildcard $(ENCODE_LOCALE)/*/LC_MESSAGES/$(ENCODE_DOMAIN).po)
MO_FILES := $(PO_FILES:.po=.mo) $(ENCODE_PO_FILES:.po=.mo)

venv: $(STAMP) $(MO_FILES)

catalogues: $(MO_FILES)

$(LOCALE)/%/LC_MESSAGES/caselink.mo: $(LOCALE)/%/LC_MESSAGES/caselink.po | $(STAMP)
	$(BIN)/pybabel -q compile -l $* -i $< -o $@

$(ENCODE_LOCALE)/%/LC_MESSAGES/$(ENCODE_DOMAIN).mo: $(ENCODE_LOCALE)/%/LC_MESSAGES/$(ENCODE_DOMAIN).po | $(STAMP)
	$(BIN)/pybabel -q compile -l $* -i $< -o $@

# After changing a string of the console: extract every string, update each catalogue (new
# strings come in untranslated: tests/service/console fails until they are translated),
# then compile them.
i18n: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -o $(LOCALE)/caselink.pot --no-location \
		--sort-output --project caselink --version 1 --copyright-holder caselink .
	$(BIN)/pybabel -q update -i $(LOCALE)/caselink.pot -d $(LOCALE) -D caselink \
		--no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/pybabel -q extract -F babel-encode.cfg -o $(ENCODE_LOCALE)/$(ENCODE_DOMAIN).pot \
		--no-location --sort-output --project caselink --version 1 --copyright-holder caselink .
	$(BIN)/pybabel -q update -i $(ENCODE_LOCALE)/$(ENCODE_DOMAIN).pot -d $(ENCODE_LOCALE) \
		-D $(ENCODE_DOMAIN) --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(MAKE) catalogues

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,dev,bench]'
	touch $(STAMP)

types-venv: $(TYPES_STAMP)

$(TYPES_STAMP):
	$(PYTHON) -m venv $(TYPES_VENV)
	$(TYPES_VENV)/bin/pip install --quiet 'mypy>=1.11'
	touch $(TYPES_STAMP)

# openapi-python-client in a virtualenv of its own: it pins typer<0.28 and httpx<0.29, below the
# CLI's. tests/service/docs generates a client with it from the served OpenAPI document, and
# drives Debian's Chromium with Playwright (which downloads no browser here).
CODEGEN_VENV := .venv-codegen
CODEGEN_STAMP := $(CODEGEN_VENV)/.installed
.PHONY: codegen-venv browser

codegen-venv: $(CODEGEN_STAMP)

$(CODEGEN_STAMP):
	$(PYTHON) -m venv $(CODEGEN_VENV)
	$(CODEGEN_VENV)/bin/pip install --quiet 'openapi-python-client>=0.29,<0.30'
	touch $(CODEGEN_STAMP)

# Debian's Chromium: the headless shell the tests drive (the same engine without the desktop
# browser: a third less CPU in the browser tests) and the full browser `make screenshots` uses.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromium-headless-shell || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y chromium chromium-headless-shell; }

# The README's screenshots (docs/screenshots), taken by the console's browser tests, and
# every page they check in build/screenshots/console. `make test` checks the same pages
# without saving them (tests/service/console: 260 s of CPU with the captures, 233 without).
.PHONY: screenshots
screenshots: $(STAMP) $(MO_FILES) browser
	CASELINK_UPDATE_SCREENSHOTS=1 CASELINK_TEST_CHROMIUM=/usr/bin/chromium $(BIN)/python -m pytest -q tests/service/console/test_console_browser.py \
		tests/service/console/test_console_steward_browser.py \
		tests/service/console/test_console_oversight_browser.py \
		tests/service/console/test_console_review_browser.py \
		tests/service/console/test_console_journey_browser.py

demo: $(STAMP) $(MO_FILES)
	$(BIN)/caselink demo

# A Ray head and a second Ray node on this machine, caselink serve on them; stops them after.
cluster-demo: $(STAMP) $(MO_FILES)
	$(BIN)/python -m evaluation._cluster_demo

# Three workers on two cores: most of the suite's time is servers and Ray starting, which
# overlap well; each folder of tests/ runs in one worker (tests/conftest.py,
# pytest_xdist_make_scheduler), the longest folders first.
TEST_WORKERS ?= 3

test: $(STAMP) $(MO_FILES) $(CODEGEN_STAMP) browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

# mypy is strict on bloom and linkage: [tool.mypy] in pyproject.toml.
# the in-process tier only: every test but those against real caselink serve processes
test-fast: $(STAMP) $(MO_FILES)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope -m "not slow"

lint: $(STAMP) $(TYPES_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TYPES_VENV)/bin/mypy --python-executable $(BIN)/python

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) $(MO_FILES)
	$(BIN)/caselink bench --out bench/results.json

clean:
	rm -rf $(VENV) $(TYPES_VENV) $(CODEGEN_VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
	rm -f $(MO_FILES)
