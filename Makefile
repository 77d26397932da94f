# The two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench clean bench-signaling

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	scripts/run.sh

test: $(VENV)/.dev
	scripts/test.sh

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.dev
	scripts/in-netns.sh $(PY) bench/audio_fanout.py

clean:
	rm -rf var staticfiles

# Signaling: N sockets join one Space on one daphne process, then a promote; see docs/benchmarks.md.
bench-signaling: $(VENV)/.dev
	scripts/in-netns.sh $(PY) bench/signaling.py --profile-fanout
