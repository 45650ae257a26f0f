# The verbs: `make up` runs the whole mesh with a demo server, `make test` runs every test.
SHELL := /bin/bash
UV := .tools/bin/uv
PY := .venv/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: help install node up test test-fast bench lint fmt clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv

.venv/.installed: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml */*/pyproject.toml)
	$(UV) sync --locked --python python3.11
	@touch $@

# The Rust scanners (rust/, bound by PyO3) are built into .venv when cargo is present; without
# it the pure-Python twins serve, with identical results. `uv sync` removes the extension, so
# this checks it is importable, not only that a stamp is newer than the sources.
SCANNERS_SRC := $(wildcard rust/Cargo.toml rust/Cargo.lock rust/crates/*/Cargo.toml \
	rust/crates/*/pyproject.toml rust/crates/*/*.pyi rust/crates/*/src/*.rs)

install: .venv/.installed ## install everything into .venv (needs only python3.11; cargo optional)
	@if ! command -v cargo >/dev/null 2>&1; then \
		if $(PY) -c "import forge_filters_native" 2>/dev/null; then \
			echo "scanners: cargo not found, keeping the rust extension built earlier"; \
		else echo "scanners: cargo not found, pure-Python scanners active"; fi; \
	elif [ -f .venv/.scanners ] && [ -z "$$(find $(SCANNERS_SRC) -newer .venv/.scanners)" ] \
		&& $(PY) -c "import forge_filters_native" 2>/dev/null; then \
		echo "scanners: rust extension built (up to date)"; \
	else \
		VIRTUAL_ENV=$(CURDIR)/.venv PATH="$(CURDIR)/.tools/bin:$$PATH" .venv/bin/maturin develop \
			--release --uv --quiet -m rust/crates/forge-filters-py/Cargo.toml \
			&& touch .venv/.scanners && echo "scanners: rust extension built"; \
	fi
	@# Bytecode compiled ahead, as the container image does (UV_COMPILE_BYTECODE): where
	@# PYTHONDONTWRITEBYTECODE is set, every service start would otherwise compile each module it
	@# imports from source, most of a start (issue 15). Up to date in seconds; a source edited
	@# since is compiled again at import, as without this.
	@$(PY) -m compileall -q -j 0 .venv/lib $(wildcard */src */*/src) >/dev/null

# The MCP conformance suite and server-everything (tests/conformance), pinned by its lock file;
# it brings its own Node 22. Needs npm; `make test` runs it, `make up` does not need it.
CONFORMANCE := tests/conformance
$(CONFORMANCE)/node_modules/.installed: $(CONFORMANCE)/package.json $(CONFORMANCE)/package-lock.json
	npm ci --prefix $(CONFORMANCE) --no-audit --no-fund --prefer-offline --loglevel=error
	@touch $@

# The TypeScript MCP clients (v2 @modelcontextprotocol/client, v1 @modelcontextprotocol/sdk) that
# tests/e2e/test_ts_clients.py drives through Forge; they run on the conformance folder's Node.
CLIENTS := tests/clients
$(CLIENTS)/node_modules/.installed: $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	npm ci --prefix $(CLIENTS) --no-audit --no-fund --prefer-offline --loglevel=error
	@touch $@

node: $(CONFORMANCE)/node_modules/.installed $(CLIENTS)/node_modules/.installed ## install the Node packages the tests use (conformance suite, TypeScript clients)

up: install ## run the whole mesh on embedded NATS and PostgreSQL, with a demo server
	.venv/bin/forge up --demo

test: install node ## run every test (the Rust core crate's own tests too, when cargo is present)
	@if command -v cargo >/dev/null 2>&1; then \
		cargo test --quiet --release --manifest-path rust/Cargo.toml -p forge-filters-core; \
	else echo "cargo not found: skipping the Rust unit tests (the Python twins are tested)"; fi
	$(PY) -m pytest -q

# Tiers come from where a test lives (forge.testing.tiers): unit is everything but tests/e2e,
# tests/conformance and tests/bench, so it needs no mesh, no Node and no cargo.
test-fast: install ## run the unit tier only (no mesh, no conformance, no bench)
	$(PY) -m pytest -q -m unit

bench: install ## measure latency and throughput, direct and through Forge
	$(PY) -m bench

lint: install ## ruff and mypy (strict on every package's source; the tests too, see pyproject)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy libs/*/src services/*/src servers/src agents/src cli/src plugins/src
	.venv/bin/mypy libs/*/tests services/*/tests servers/tests agents/tests cli/tests plugins/tests tests
	$(PY) -m forge.core.settings_doc --check
	$(PY) -m forge.testing.error_codes
	$(PY) -m forge.testing.wire_types
	$(PY) -m forge.testing.import_rules

docs: install ## write the settings tables (READMEs, docs/settings.md) and docs/errors.md's codes
	$(PY) -m forge.core.settings_doc
	$(PY) -m forge.testing.error_codes --write

fmt: install ## format the code
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

clean: ## remove installed environments and local state
	rm -rf .venv .tools .forge $(CONFORMANCE)/node_modules $(CLIENTS)/node_modules
