# Thin wrapper over CMake (STYLE.md).  `make` builds build/nubis; `make test`
# builds the normal and the ASan+UBSan trees and runs every test against the
# sanitized one; `make run` starts the platform with examples/hello deployed.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECS  ?= 60
FUZZ_SMOKE_SECS ?= 3
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build asan fuzz-build fuzz fuzz-cron test unit e2e run format format-check bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNB_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# libFuzzer targets (tests/fuzz): clang with ASan+UBSan.  `make fuzz` runs
# each for FUZZ_SECS; `make test` runs each for FUZZ_SMOKE_SECS (seeds and
# every kept crash input first).
fuzz-build: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang-14 -DNB_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECS)

# fuzz-cron: the cron parser's fuzzer (tests/fuzz/fuzz_cron.c) alone, for FUZZ_SECS
fuzz-cron: fuzz-build
	@$(FUZZ_BUILD)/fuzz_cron -max_total_time=$(FUZZ_SECS) -max_len=256

unit: asan
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

e2e: build asan
	@NUBIS_BIN=$(CURDIR)/$(ASAN_BUILD)/nubis /usr/bin/python3 -m pytest -q tests/e2e

test: build asan fuzz-build
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECS)
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
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
