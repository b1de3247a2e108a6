# Thin wrapper over CMake. The two commands a newcomer needs:
#   make demo    install missing packages, build, serve a live WITS replay per policy beside
#                the simulator's prediction (serflow demo; docs/serving.md)
#   make check   install, build, run every test: unit + CLI tests, ASan+UBSan, valgrind, format,
#                fuzz smoke
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 6

.PHONY: all deps build demo check test asan valgrind format format-check fuzz bench clean \
        aws-package

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/serflow demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# -O1, as AddressSanitizer's documentation advises for a usable speed (the same checks).
asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
	  -DSF_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# Every unit test under valgrind (memcheck). Leaks count when definite: libgomp keeps its thread
# pool's TLS until exit, which valgrind reports as "possibly lost". oneDNN runs on one thread
# here (OMP_NUM_THREADS=1, SF_TEST_VALGRIND: see tu_dnnl_threads in tests/unit/test_util.h):
# its JIT kernels on a second thread now and then leave memcheck's view of that thread's state
# undefined, a schedule-dependent cascade of false errors; 2 threads run in `test` and `asan`.
# The longest under memcheck start first (50-110 s each on a 2-core machine; the rest take a few
# seconds): alphabetical order left one core idle at the end for a minute.
VALGRIND_FIRST = test_nn_exit test_nn_families test_sim test_nn_onnx test_nn_profile test_policy
valgrind: build
	@{ for t in $(VALGRIND_FIRST); do echo $(BUILD)/$$t; done; ls $(BUILD)/test_*; } | \
	  awk '!seen[$$0]++' | while read -r t; do [ -x "$$t" ] && echo "$$t"; done | \
	  xargs -P $(JOBS) -I{} sh -c 'log={}.valgrind.log; echo "valgrind: $$(basename {})"; \
	    SF_SOURCE_DIR=$(CURDIR) OMP_NUM_THREADS=1 SF_TEST_VALGRIND=1 valgrind -q --error-exitcode=9 --leak-check=full \
	      --errors-for-leak-kinds=definite {} >$$log 2>&1 || { tail -40 $$log; exit 255; }'

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

# clang-format on batches of files, $(JOBS) at once (one process a file took 18 s of the pass);
# a file that is not clean is named by its "file:line:col: error" line
format-check:
	@out=$$(git ls-files -z --cached --others --exclude-standard '*.c' '*.h' | \
	  xargs -0 -n 24 -P $(JOBS) clang-format --dry-run --Werror 2>&1 >/dev/null); rc=$$?; \
	bad=$$(printf '%s\n' "$$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u); \
	if [ -n "$$bad" ]; then echo "format-check: not clang-format clean: $$bad" >&2; exit 1; fi; \
	if [ $$rc -ne 0 ]; then echo "format-check: clang-format failed: $$out" >&2; exit 1; fi; \
	echo "format-check: clean"

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSF_FUZZ=ON \
	  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	@ls $(FUZZ_BUILD)/fuzz_* | while read -r f; do [ -f "$$f" ] && [ -x "$$f" ] && echo "$$f"; done | \
	  xargs -P $(JOBS) -I{} sh -c 'f={}; name=$$(basename $$f); corpus=fuzz/corpus/$${name#fuzz_}; \
	    mkdir -p $(FUZZ_BUILD)/corpus-$$name; echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
	      $(FUZZ_BUILD)/corpus-$$name $$corpus 2>$(FUZZ_BUILD)/log-$$name.txt || \
	      { tail -40 $(FUZZ_BUILD)/log-$$name.txt; exit 255; }'

# The Lambda function's zip (bootstrap + binary + libraries + model) and the workers' tarball,
# for deploy/aws/serflow.yaml (docs/deploy-aws.md).
aws-package: build
	@scripts/aws-package.sh $(CURDIR)/$(BUILD) $(CURDIR)/$(BUILD)/aws

bench: build
	@for b in $(BUILD)/bench_*; do echo "== $$b"; $$b; done

check: build format-check
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory valgrind
	$(MAKE) --no-print-directory fuzz

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
