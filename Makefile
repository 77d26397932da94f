# The two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench clean bench-audio bench-signaling bench-hls

$(VENV)/.runtime: requirements.txt
	@echo "== Python packages: creating $(VENV) and installing requirements.txt (first run: a few minutes)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install --progress-bar off --disable-pip-version-check -r requirements.txt
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
	$(VENV)/bin/ruff format --check .

bench: bench-audio bench-signaling bench-hls

# Audio: ours side by side with the naive design and Janus, stepped to saturation; see docs/benchmarks.md.
bench-audio: $(VENV)/.dev
	scripts/in-netns-veth.sh $(PY) bench/audio_fanout.py \
	    --designs ours ours60 janus audiobridge naive --listeners 1 50 200 500 1000 1500 \
	    --limit naive=200 audiobridge=200 ours=1000 --profile 1000

clean:
	rm -rf var staticfiles

# Signaling: N sockets join one Space on one daphne process, then a promote; see docs/benchmarks.md.
bench-signaling: $(VENV)/.dev
	scripts/in-netns.sh $(PY) bench/signaling.py --profile-fanout

# HLS: players through nginx (docs/deploy/nginx.conf) against daphne directly, then glass-to-ear
# for WebRTC, HLS and LL-HLS listeners in one run; see docs/benchmarks.md.
bench-hls: $(VENV)/.dev
	scripts/install-test-deps.sh
	scripts/in-netns.sh flock /tmp/spaces-bench.lock $(PY) bench/hls_cache.py \
	    --players 100 1000 10000 --seconds 15
	scripts/in-netns.sh flock /tmp/spaces-bench.lock $(PY) bench/hls_latency.py --live \
	    --seconds 60 --players 10 --part-seconds 0.25
