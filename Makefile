# One command for the main job, one for the tests; each sets up what it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: setup demo expert-video test test-fast bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash .ci/system_deps.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[all,dev]'
	@touch $(STAMP)

## The main job: the unattended HG-DAgger loop in the sim (a few minutes on 2 CPU cores); rerun to resume.
demo: $(STAMP)
	$(VENV)/bin/hgd-loop --out runs/demo

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

clean:
	rm -rf $(VENV) runs .pytest_cache
