# The project's vocabulary: what a person runs is what CI runs.
PY := .venv/bin/python
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install run train test lint validate eval bench

install:
	@scripts/install.sh

run: install
	@$(PY) -m bot run

train: install
	@$(PY) -m bot train

test: install
	@$(PY) -m pytest

lint: install
	@.venv/bin/ruff check .

validate: install
	@$(PY) -m bot.generate --check
	@$(PY) -m rasa data validate --config config.yml --domain bot/domain.yml --data data --fail-on-warnings

# Score a running bot (make run) on a case file: make eval CASES=tests/eval/cases.yaml
CASES ?= tests/eval/cases.yaml
eval: install
	@$(PY) -m bot.eval $(CASES)

bench: install
	@$(PY) -m bot.bench
