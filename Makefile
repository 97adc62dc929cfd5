# The project's vocabulary: what a person runs is what CI runs.
PY := .venv/bin/python
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install browser services run train test lint validate eval crossval fuzz bench scaleout

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
	@$(PY) -m pytest

lint: install
	@.venv/bin/ruff check .

validate: install
	@$(PY) -m bot.generate --check
	@$(PY) -m rasa data validate --config config.yml --domain bot/domain.yml --data data --fail-on-warnings

# Score the bot (started on free ports) on the dev cases and the independent set;
# make eval CASES=other.yaml for another file, EVAL_URL=http://localhost:5005 to use a running bot.
CASES ?=
eval: install
	@$(PY) -m bot.eval $(CASES) $(if $(EVAL_URL),--url $(EVAL_URL))

# NLU cross-validation (DIET alone, without the actions' rules): reports/nlu_cv/*.json
crossval: install
	@PYTHONPATH=. $(PY) -m rasa test nlu --nlu data --config config.yml --cross-validation --folds 3 --out var/nlu_cv
	@mkdir -p reports/nlu_cv && cp var/nlu_cv/intent_report.json var/nlu_cv/RegexEntityExtractor_report.json reports/nlu_cv/

# Hostile input through REST and WeChat (loopback, bounded): reports/fuzz.json
fuzz: install
	@$(PY) -m bot.fuzz --count 10000

# make bench ARGS="--compare --conversations 120": one process vs scale-out (needs make services), with the ratio.
ARGS ?=
bench: install $(if $(findstring compare,$(ARGS)),services)
	@$(PY) -m bot.bench $(ARGS)

# PostgreSQL + Redis + 2 Rasa instances + action server behind nginx, all on loopback (var/scaleout/); Ctrl-C stops.
scaleout: install services
	@$(PY) -m bot.scaleout
