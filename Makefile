# The project's vocabulary: what a person runs is what CI runs.
PY := .venv/bin/python
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install browser services run train test test-unit lint typecheck validate eval crossval fuzz bench scaleout backup restore \
	bench-catalog soak bench-turns

install:
	@scripts/install.sh

run: install
	@$(PY) -m bot run

train: install
	@$(PY) -m bot train

# Headless Chromium, its driver, a CJK font, espeak-ng and the npm packages of the kiosk's browser tests.
browser:
	@scripts/install-browser.sh

# PostgreSQL, Redis and nginx from Debian, for the scale-out layout (private instances, never the system services).
services:
	@scripts/install-services.sh

test: install browser services
	@.venv/bin/ruff check .
	@.venv/bin/mypy
	@$(PY) -m pytest

# The unit tests only (no trained model, no servers, no browser, no network): a couple of minutes.
test-unit: install
	@$(PY) -m pytest -m unit

lint: install
	@.venv/bin/ruff check .

# Types of the runtime packages (language, catalog, replies, actions, bot; settings in pyproject.toml).
typecheck: install
	@.venv/bin/mypy

validate: install
	@$(PY) -m bot.generate --check
	@$(PY) -m rasa data validate --config config.yml --domain domain.yml --data data --fail-on-warnings

# Score the bot (started on free ports) on the dev cases and the independent set;
# make eval CASES=other.yaml for another file, EVAL_URL=http://localhost:5005 to use a running bot.
CASES ?=
eval: install
	@$(PY) -m tools.eval $(CASES) $(if $(EVAL_URL),--url $(EVAL_URL))

# NLU cross-validation (DIET alone, without the actions' rules): reports/nlu_cv/*.json
crossval: install
	@PYTHONPATH=. $(PY) -m rasa test nlu --nlu data --config config.yml --cross-validation --folds 3 --out var/nlu_cv
	@mkdir -p reports/nlu_cv && cp var/nlu_cv/intent_report.json var/nlu_cv/RegexEntityExtractor_report.json reports/nlu_cv/

# Hostile input through REST, kiosk and WeChat (loopback, bounded), thresholds per channel: reports/fuzz.json
fuzz: install
	@$(PY) -m tools.fuzz --count 10000

# One process vs scale-out (nginx, 2 Rasa instances, PostgreSQL, Redis) in one run, checked against the targets;
# make bench ARGS="--only single --concurrency 1,10" for a part.
ARGS ?=
bench: install services
	@$(PY) -m tools.bench $(ARGS)

# One conversation of 260 turns through REST: mean latency of turns 241-250 against turns 1-10 (target: at most 1.3),
# reports/bench_turns.json.
bench-turns: install
	@$(PY) -m tools.bench_turns $(ARGS)

# PostgreSQL + Redis + 2 Rasa instances + action server behind nginx, all on loopback (var/scaleout/); Ctrl-C stops.
scaleout: install services
	@$(PY) -m tools.scaleout

# Soak (a benchmark, not in make test): 30 minutes at 10 concurrent conversations; memory growth and p95 drift between
# the first steady minutes and the last must stay within 10 %: reports/soak.json. make soak ARGS="--minutes 3" to try it.
soak: install
	@$(PY) -m tools.soak $(ARGS)

# A consistent copy of the catalog and the conversations (DATABASE_URL) in var/backups/; make restore FILE=… puts one back.
backup: install
	@$(PY) -m bot.maintenance backup

restore: install
	@test -n "$(FILE)" || { echo "用法：make restore FILE=var/backups/yinling-….db（先停止机器人）"; exit 2; }
	@$(PY) -m bot.maintenance restore "$(FILE)"

# Catalog queries on 1,000,000 synthetic service points (generated once into var/scale/), on SQLite and on a private
# PostgreSQL on loopback: p50/p95/p99 of "nearest 5 of a category" and "category in district", reports/catalog_bench.json
bench-catalog: install services
	@$(PY) -m tools.bench_catalog
