# notestruct: `make run` sets everything up and ingests the bundled samples; `make test` runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test setup lint eval bench clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "notestruct needs Python >= 3.11")'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/notestruct ingest samples/notes.jsonl

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check schemas extractors warehouse pipelines tests bench
	$(BIN)/lint-imports

eval: $(STAMP)
	$(BIN)/notestruct eval

clean:
	rm -rf $(VENV) notestruct.db notestruct.db-wal notestruct.db-shm
