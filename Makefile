# The two commands the README opens with. Each makes (or refreshes) .venv on its own.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

demo: $(STAMP)
	$(VENV)/bin/synthcircuits demo

test: $(STAMP)
	scripts/ensure-chromium
	$(PY) -m pytest
	scripts/check-mutation
	scripts/check-plain-install

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# Reinstall whenever the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
