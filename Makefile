# Every target sets itself up: a fresh clone needs only `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RAY_USAGE_STATS_ENABLED := 0
export RAY_AUTH_MODE := disabled

.PHONY: venv demo cluster-demo test lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --config-settings editable_mode=compat -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/caselink demo

# A Ray head and a second Ray node on this machine, caselink serve on them; stops them after.
cluster-demo: $(STAMP)
	$(BIN)/python -m evaluation._cluster_demo

# Two workers: most of the suite's time is servers and Ray starting, which overlap well;
# each folder of tests/ runs in one worker (tests/conftest.py, pytest_xdist_make_scheduler).
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/caselink bench --out bench/results.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
