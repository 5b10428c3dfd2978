# Two entry points for a fresh clone: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench screenshots setup clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/kanban-tui demo

# beside a throwaway PostgreSQL server, so the suite runs on both stores (scripts/with_postgres.sh)
test: $(STAMP)
	scripts/with_postgres.sh $(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) -m bench

screenshots: $(STAMP)
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info
