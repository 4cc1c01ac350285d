# Thin wrapper over CMake (STYLE.md).  `make` builds build/nubis; `make test`
# builds the normal and the ASan+UBSan trees and runs every test against the
# sanitized one; `make run` starts the platform with examples/hello deployed.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build asan test unit e2e run format format-check bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNB_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

unit: asan
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

e2e: build asan
	@NUBIS_BIN=$(CURDIR)/$(ASAN_BUILD)/nubis /usr/bin/python3 -m pytest -q tests/e2e

test: build asan
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)
	@NUBIS_BIN=$(CURDIR)/$(ASAN_BUILD)/nubis /usr/bin/python3 -m pytest -q tests/e2e

run: build
	@scripts/run.sh

bench: build
	@bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
