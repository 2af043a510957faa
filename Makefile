# Two commands do all set-up on a fresh clone: `make run` and `make test`.
# Both create .venv, install the project and compile the Cython core; the second time
# they only rebuild what changed (stamps below).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSSTAMP := $(VENV)/.sysdeps
CONFIG ?= configs/sim.toml
# `make run` runs the demo session script to its end; `make run SCRIPT=` runs until Ctrl-C.
SCRIPT ?= configs/scripts/demo.toml
SYSDEPS := mbpoll socat
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test bench clean sysdeps

install: $(STAMP) $(SYSSTAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=23" "setuptools>=68" wheel "cython>=3.0" "numpy>=1.26"

$(STAMP): $(PY) setup.py pyproject.toml $(wildcard cext/*.pyx cext/*.pxd)
	$(PY) -m pip install -q --no-build-isolation -e ".[test]"
	touch $@

# Independent Modbus peers the tests talk to (Debian packages).
$(SYSSTAMP): | $(PY)
	@missing=""; for p in $(SYSDEPS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	touch $@

# every run is recorded under sessions/ (DESIGN.md 6); the simulated rig records its ground truth beside it
RECORD ?= sessions/session-$(shell date +%Y%m%d-%H%M%S).csv.gz

run: install
	@mkdir -p $(dir $(RECORD))
	$(VENV)/bin/rig run --config $(CONFIG) $(if $(SCRIPT),--script $(SCRIPT)) --record $(RECORD)

test: install
	$(VENV)/bin/pytest -q

bench: install
	$(VENV)/bin/rig bench loop --seconds 20 --json

clean:
	rm -rf $(VENV) build *.egg-info cext/*.c cext/*.so
