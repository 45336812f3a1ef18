# physflow: `make demo` runs the main job on embedded defaults, `make test` runs the tests.
# Each creates .venv and installs the project when needed.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.physflow-installed

.PHONY: demo test lint bench clean llm bytecode

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(COMPILE)
	-$(BIN)/physflow weights install-defaults --optional
	touch $(STAMP)

# The project's own modules compiled to bytecode beside their sources. An editable install compiles none, and
# where PYTHONDONTWRITEBYTECODE is set (many container images set it) Python never writes any: every `physflow`
# command, worker process and test process then compiled the project again on import, about 0.6 s of CPU each.
# Only files changed since are compiled again; Python ignores a file older than its source. Quiet on success; a
# file that does not compile is named, with its error, and fails the target.
SOURCES = physflow flows stages models data_catalog benchmarks
COMPILE = $(BIN)/python -m compileall -q -j 0 $(SOURCES)

bytecode: $(STAMP)
	$(COMPILE)

demo: bytecode
	$(BIN)/physflow demo

test: bytecode
	$(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

# The `llm` extra: llama-cpp-python compiles llama.cpp from source. It is built portable (GGML_NATIVE=OFF: AVX2,
# FMA, F16C, no AVX-512 or AMX): a -march=native build turns on llama.cpp's AMX int8 kernels, which crash
# (SIGSEGV in ggml_backend_amx_mul_mat) on the first multi-token batch on AMX Xeons, and a native wheel from pip's
# cache may not even run on the next machine. The wheel is kept in a folder named by the requirement and the build
# flags, so a later install takes seconds and pip's own cache (which ignores CMAKE_ARGS) never hands back a
# differently built one. It is installed over whatever llama-cpp-python the venv has (a same-version native build
# would otherwise count as already installed).
LLM_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
LLM_SPEC       ?= llama-cpp-python>=0.3.7
LLM_WHEELS     ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/physflow/llama-cpp-wheels
LLM_BUILD_S    ?= 900

llm: $(STAMP)
	@set -e; dir="$(LLM_WHEELS)/$$(printf '%s %s' '$(LLM_SPEC)' '$(LLM_CMAKE_ARGS)' | sha256sum | cut -c1-12)"; \
	if ! ls "$$dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python ($(LLM_CMAKE_ARGS)) into $$dir: several minutes"; \
		rm -rf "$$dir.part"; \
		CMAKE_ARGS="$(LLM_CMAKE_ARGS)" timeout $(LLM_BUILD_S) $(BIN)/python -m pip wheel --quiet --no-cache-dir \
			--no-deps "$(LLM_SPEC)" -w "$$dir.part" \
			|| { rm -rf "$$dir.part"; echo "llama-cpp-python did not build (or took over $(LLM_BUILD_S) s)" >&2; exit 1; }; \
		mkdir -p "$$dir"; mv "$$dir.part"/llama_cpp_python-*.whl "$$dir"/; rm -rf "$$dir.part"; \
	fi; \
	wheel="$$(ls "$$dir"/llama_cpp_python-*.whl | sort -V | tail -1)"; \
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps "$$wheel"; \
	$(BIN)/python -m pip install --quiet "$$wheel[server]"

lint: $(STAMP)
	$(BIN)/ruff check physflow flows stages models data_catalog tests benchmarks setup.py

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf physflow-data .pytest_cache
