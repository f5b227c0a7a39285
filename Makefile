# The two commands of the README's Quick start. Each installs what it needs by itself:
# a virtualenv with the project (pip), then the stack's servers into ~/.cache/authtrail
# (Maven Central jars, Go builds) on first use.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test down clean

run: $(STAMP)
	$(VENV)/bin/authtrail up

test: $(STAMP)
	$(VENV)/bin/authtrail specs

down: $(STAMP)
	$(VENV)/bin/authtrail down

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

clean:
	rm -rf $(VENV) .stack .stack-test log bench-results .mypy_cache .ruff_cache .pytest_cache
