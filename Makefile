# Two commands for a new user on a fresh machine (see README.md):
#   make run    set up .venv and run the main job on the embedded defaults
#   make test   set up .venv and run the test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

# The whole network (README "Run the whole network"): central reader + reading page, a
# hospital alert desk, three township carts submitting sample_records/ (the three STEMI
# samples are triaged critical by the STEMI feature model, so alerts arrive). Ctrl-C stops.
run: $(STAMP)
	$(BIN)/ecg-central network --records sample_records/

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check edge_agent central_reader tests bench models
	$(BIN)/mypy edge_agent central_reader

bench: $(STAMP)
	$(BIN)/python -m bench.run_all
