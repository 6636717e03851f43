# SOVEREIGN: `make run` researches GOAL on CORPUS; `make test` runs the test suite. Both install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_CORPUS := ../shared/data/arxiv/llm_papers_catalog.jsonl.gz
CORPUS ?= $(if $(wildcard $(SHARED_CORPUS)),$(SHARED_CORPUS),tests/fixtures/mini_corpus.jsonl)
GOAL ?= What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?
OUT ?= runs

.PHONY: install run test lint

install: $(BIN)/sovereign

$(BIN)/sovereign: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

run: install
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/sovereign run "$(GOAL)" --corpus "$(CORPUS)" --out "$(OUT)"

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check tasks flows deployments tests
