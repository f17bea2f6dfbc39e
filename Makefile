# One command for the main job, one for the tests; each sets up what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: setup demo expert-video test test-fast bench clean lerobot-venv lerobot-check

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash .ci/system_deps.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[all,dev]'
	@touch $(STAMP)

## The main job: HG-DAgger beside behavioural cloning at equal labels on pick_place_two, in the sim
## (about 20 minutes on 2 CPU cores); rerun to resume an interrupted run or re-print a finished one.
demo: $(STAMP)
	$(VENV)/bin/hgd-loop --preset main --out runs/demo

## The scripted expert on a task, headless, to videos and a PNG strip.
expert-video: $(STAMP)
	$(VENV)/bin/hgd-expert --task pick_place --episodes 2 --out runs/expert

## The whole test suite, slow end-to-end tests included.
test: $(STAMP)
	$(PY) -m pytest -q

## Everything but the tests marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(VENV)/bin/hgd-bench-sim

## LeRobot's own loader on our export, in its own cached environment (.venv-lerobot, about 6 GB once:
## PyPI's torch for Linux x86_64 is the CUDA build; it runs on the CPU here). lerobot 0.6 needs Python
## 3.12; with only 3.11: make lerobot-check LEROBOT_PYTHON=python3.11 LEROBOT_SPEC='lerobot==0.4.4' \
##   LEROBOT_TORCH='torch==2.9.1 torchvision==0.24.1'
## torchcodec, LeRobot's default video decoder, needs a system FFmpeg (apt-get install ffmpeg); without
## one the check says so and checks LeRobot's pyav decoder only.
LEROBOT_VENV ?= .venv-lerobot
LEROBOT_PYTHON ?= $(shell for p in $$(command -v python3.12) $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
	"$$p" -V >/dev/null 2>&1 && echo "$$p" && break; done)
LEROBOT_TORCH ?= torch==2.11.0 torchvision==0.26.0
LEROBOT_SPEC ?= lerobot[dataset]==0.6.1
LEROBOT_STAMP := $(LEROBOT_VENV)/.installed

lerobot-venv: $(LEROBOT_STAMP)

$(LEROBOT_STAMP):
	@test -n "$(LEROBOT_PYTHON)" || { echo "lerobot-check: no python3.12 found (set LEROBOT_PYTHON=...)"; exit 1; }
	$(LEROBOT_PYTHON) -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/python -m pip install -q $(LEROBOT_TORCH)
	$(LEROBOT_VENV)/bin/python -m pip install -q "$(LEROBOT_SPEC)"
	$(LEROBOT_VENV)/bin/python -m pip install -q -e .
	@touch $(LEROBOT_STAMP)

## Record a small run, hgd-export --format lerobot it, load it with lerobot's LeRobotDataset (offline)
## and compare frames, actions and episode boundaries with the HDF5 originals.
lerobot-check: $(LEROBOT_STAMP)
	HF_HUB_OFFLINE=1 $(LEROBOT_VENV)/bin/python tests_lerobot/check_lerobot_load.py

clean:
	rm -rf $(VENV) runs .pytest_cache
