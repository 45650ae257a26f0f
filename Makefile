# The verbs: `make up` runs the whole mesh with a demo server, `make test` runs every test.
SHELL := /bin/bash
UV := .tools/bin/uv
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: help install node up test bench lint fmt clean

help: ## list the verbs
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

.venv/.installed: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml */*/pyproject.toml)
	$(UV) sync --locked --python python3.11
	@touch $@

install: .venv/.installed ## install everything into .venv (needs only python3.11)

# The MCP conformance suite and server-everything (tests/conformance), pinned by its lock file;
# it brings its own Node 22. Needs npm; `make test` runs it, `make up` does not need it.
CONFORMANCE := tests/conformance
$(CONFORMANCE)/node_modules/.installed: $(CONFORMANCE)/package.json $(CONFORMANCE)/package-lock.json
	npm ci --prefix $(CONFORMANCE) --no-audit --no-fund --prefer-offline --loglevel=error
	@touch $@

node: $(CONFORMANCE)/node_modules/.installed ## install the Node packages the conformance tests use

up: install ## run the whole mesh on embedded NATS and PostgreSQL, with a demo server
	.venv/bin/forge up --demo

test: install node ## run every test
	$(PY) -m pytest -q

bench: install ## measure latency and throughput, direct and through Forge
	$(PY) -m bench

lint: install ## ruff and mypy (strict, on every package's source)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy libs/*/src services/*/src servers/src cli/src

fmt: install ## format the code
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean: ## remove installed environments and local state
	rm -rf .venv .tools .forge $(CONFORMANCE)/node_modules
