# Quick start: `make demo` (train R2R, DBSN and NTGAN on the embedded demo data) and `make test` (the test suite).
# Each target creates .venv if missing and installs the pinned stack into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint format bench gpu-wheels clean

venv: $(STAMP)

$(STAMP): setup.py constraints.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 9) <= v[:2] < (3, 13) else \
		"basicsr 1.4.2 needs Python 3.9-3.12, found %d.%d: set PYTHON=python3.11" % v[:2])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt torch torchvision Cython numpy setuptools wheel
	# basicsr's setup.py imports torch: build it against the torch just installed, without isolation.
	$(PIP) install -q -c constraints.txt --no-build-isolation basicsr
	$(PIP) install -q -c constraints.txt --no-build-isolation -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/basicsr-noise demo

test: $(STAMP)
	$(VENV)/bin/flake8 basicsr_noise tests benchmarks
	$(VENV)/bin/isort --check-only --diff basicsr_noise tests benchmarks
	$(PY) -m pytest -q -n auto --dist loadfile --durations=15 tests

lint: $(STAMP)
	$(VENV)/bin/flake8 basicsr_noise tests benchmarks
	$(VENV)/bin/isort --check-only --diff basicsr_noise tests benchmarks
	$(VENV)/bin/yapf -r -d basicsr_noise tests benchmarks

format: $(STAMP)
	$(VENV)/bin/isort basicsr_noise tests benchmarks
	$(VENV)/bin/yapf -r -i basicsr_noise tests benchmarks

bench: $(STAMP)
	$(PIP) install -q -c constraints.txt --no-build-isolation -e '.[test,bench]'
	$(PY) benchmarks/r2r_quality.py
	$(PY) benchmarks/r2r_speed.py
	$(PY) benchmarks/dbsn_quality.py
	$(PY) benchmarks/camsim_noise_eval.py
	$(PY) benchmarks/noise_speed.py
	$(PY) benchmarks/lmdb_speed.py
	$(PY) benchmarks/noise_figure.py
	$(PY) benchmarks/ntgan_quality.py
	$(PY) benchmarks/ntgan_speed.py
	$(PY) benchmarks/ntgan_memory.py

# The wheels benchmarks/gpu/run.sh installs on the GPU machine (Python 3.12, no registry): what it lacks of the stack.
GPU_PLATFORMS := $(foreach n,17 27 28,--platform manylinux_2_$(n)_x86_64) --platform manylinux2014_x86_64
gpu-wheels: $(STAMP)
	rm -rf .whl && mkdir -p .whl
	$(PIP) wheel -q --no-deps --no-build-isolation -c constraints.txt -w .whl basicsr
	$(PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $(GPU_PLATFORMS) \
		-c constraints.txt -d .whl lmdb mmengine addict termcolor yapf platformdirs

clean:
	rm -rf $(VENV) experiments results tb_logger datasets/demo
