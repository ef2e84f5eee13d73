# Thin wrapper around CMake. `make demo` and `make test` install missing
# Debian packages first (as root, with apt-get), so both work on a fresh
# Debian 12 machine.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += --no-print-directory

.PHONY: all deps build test unit integration browser demo conformance fuzz bench cluster-bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The second step rebuilds everything with ASan and UBSan in build-asan and
# runs the tests again; any sanitizer report fails it.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@scripts/sanitize.sh build-asan $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration

browser: build
	cd $(BUILD) && ctest --output-on-failure -L browser

demo: build
	@scripts/demo.sh $(BUILD)

# make conformance CASES=DIR: runs a directory of launch cases (the layout
# of the 1EdTech certification payloads) against a fresh ltigate.
conformance: build
	@scripts/conformance.sh $(BUILD) "$(CASES)"

# make fuzz FUZZ_SECONDS=N: builds the libFuzzer harnesses with clang, ASan
# and UBSan in build-fuzz and runs each for N seconds (not part of make test).
FUZZ_SECONDS ?= 60
fuzz: deps
	@command -v clang >/dev/null || apt-get install -y -qq --no-install-recommends clang
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLTIGATE_FUZZ=ON \
		-DLTIGATE_BUILD_TESTS=OFF -DLTIGATE_WERROR=OFF
	cmake --build build-fuzz -j $(JOBS) --target fuzz_token fuzz_form fuzz_jwks fuzz_config fuzz_session
	@fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# make bench: measures ltigate on this machine (a few minutes, not part of
# make test) and rewrites docs/benchmarks.md and docs/benchmarks.svg.
bench: build
	@python3 bench/bench.py $(BUILD) --out docs/benchmarks.md --command "make bench"

# make cluster-bench: launch rate and server CPU per launch with the memory
# store, the Redis store, and two Redis-backed instances behind HAProxy.
cluster-bench: build
	@python3 scripts/cluster-bench.py $(BUILD)

clean:
	rm -rf $(BUILD)
