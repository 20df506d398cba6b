# nodown - build, test, fuzz, bench, demo.
#
#   make            build build/nodown (installs missing build packages)
#   make test       unit tests (cmocka) + integration tests (pytest, real servers)
#   make demo       the guided tour
#   make fuzz       fuzz the parsers for FUZZ_SECONDS each (clang/libFuzzer)
#   make fuzz-check run each fuzz target over its seed corpus (part of test)
#   make bench      bench/http.sh
#   make bench-pg   bench/pg.sh (pgbench: direct, PgBouncer, nodown; switchover stall)
#   make bench-redis bench/redis.sh (redis-benchmark: direct, twemproxy, nodown)
#   SANITIZE=1      build and test with AddressSanitizer + UndefinedBehaviorSanitizer

SANITIZE ?= 0
FUZZ_SECONDS ?= 60
PYTHON := /usr/bin/python3
CC ?= cc

ifeq ($(SANITIZE),1)
BUILD := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1
else
BUILD := build
SANFLAGS :=
OPT := -O2
endif

.DEFAULT_GOAL := all
.PHONY: clean
clean:
	rm -rf build

ifndef NODOWN_DEPS_DONE
# First pass: install the Debian packages a goal needs (scripts/deps says
# what it installs, and installs nothing when all is present), then run the
# goal in a second make. The rules must be read after the install: make
# looks at /usr/share/llhttp and pkg-config's answers once, when it reads
# them, so on a fresh machine a single pass would miss what it installed.
DEPS_all := build
DEPS_test := test fuzz
DEPS_unit := test
DEPS_integration := test
DEPS_fuzz := fuzz
DEPS_fuzz-check := fuzz
DEPS_bench := bench
DEPS_bench-pg := bench
DEPS_bench-redis := bench
DEPS_demo := demo
GOALS := all test unit integration fuzz fuzz-check bench bench-pg bench-redis demo

.PHONY: $(GOALS)
$(GOALS):
	@scripts/deps $(DEPS_$@)
	@$(MAKE) --no-print-directory NODOWN_DEPS_DONE=1 $@

# any other goal (build/nodown, a unit-test binary): the build packages
OTHER_GOALS := $(filter-out $(GOALS) clean,$(MAKECMDGOALS))
.PHONY: $(OTHER_GOALS)
$(OTHER_GOALS):
	@scripts/deps build
	@$(MAKE) --no-print-directory NODOWN_DEPS_DONE=1 $@

Makefile: ;
else
LLHTTP_SRC := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
PKGS := libuv yaml-0.1 jansson libcrypto

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CPPFLAGS := -D_GNU_SOURCE -Isrc -I$(LLHTTP_INC) -DND_DEBUG -DLLHTTP_STRICT_MODE=1
CFLAGS := -std=c11 $(OPT) -g -pthread $(SANFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(PKGS))
LDFLAGS := -pthread $(SANFLAGS)

SRCS := src/modules.c $(wildcard src/core/*.c src/http/*.c src/pg/*.c src/redis/*.c src/cli/*.c)
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(filter-out $(BUILD)/src/cli/%.o,$(OBJS))
LLHTTP_OBJS := $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test layers unit integration fuzz fuzz-check bench bench-pg bench-redis demo clean

all: $(BUILD)/nodown

$(BUILD)/nodown: $(OBJS) $(LLHTTP_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Header dependencies are found by the compiler (-MMD), not listed.
$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

# llhttp's C sources ship in Debian's node-llhttp; built here, not copied.
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c Makefile
	@mkdir -p $(dir $@)
	$(CC) -I$(LLHTTP_INC) -DLLHTTP_STRICT_MODE=1 $(CFLAGS) -w -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS) $(LLHTTP_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -MMD -MP -o $@ $< \
		$(LIB_OBJS) $(LLHTTP_OBJS) $(PKG_LIBS) $$(pkg-config --cflags --libs cmocka) $(LDFLAGS)

-include $(UNIT_BINS:=.d)

unit: $(UNIT_BINS)
	@failed=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || failed=1; done; exit $$failed

integration: $(BUILD)/nodown
	NODOWN_BIN=$(abspath $(BUILD)/nodown) NODOWN_SANITIZED=$(SANITIZE) $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)

test: layers unit fuzz-check integration

# The core knows no protocol by name: it includes nothing of a protocol's
# folder (every protocol is reached through its struct proto_module).
layers:
	@! grep -nE '#include "(\.\./)?(http|pg|redis)/' src/core/*.c src/core/*.h || \
		{ echo "src/core includes a protocol's header (above); go through core/proto.h"; exit 1; }
	@echo "layers: src/core includes no protocol header"

FUZZ_TARGETS := $(patsubst fuzz/%.c,build/fuzz/%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SRCS := $(filter-out src/cli/%.c,$(SRCS))
FUZZ_FLAGS := -g -O1 -fsanitize=address,undefined
FUZZ_OBJS := $(FUZZ_SRCS:%.c=build/fuzz/obj/%.o) \
	build/fuzz/obj/llhttp/llhttp.o build/fuzz/obj/llhttp/api.o build/fuzz/obj/llhttp/http.o

# The code under test is compiled once, with sanitizers and coverage, into
# one library every fuzz target links.
build/fuzz/obj/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build/fuzz/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	clang -I$(LLHTTP_INC) -DLLHTTP_STRICT_MODE=1 $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -w -c -o $@ $<

build/fuzz/libnodown.a: $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $^

-include $(FUZZ_OBJS:.o=.d)

build/fuzz/%: fuzz/%.c build/fuzz/libnodown.a
	clang $(CPPFLAGS) $(PKG_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
		build/fuzz/libnodown.a $(PKG_LIBS) -pthread

# Every fuzz target over its checked-in seed corpus: the targets build and
# no seed crashes. `make fuzz` explores further.
fuzz-check: $(FUZZ_TARGETS)
	@for f in $(FUZZ_TARGETS); do n=$$(basename $$f); \
		echo "== $$n over fuzz/corpus/$${n#fuzz_}"; \
		$$f -runs=0 fuzz/corpus/$${n#fuzz_} > build/fuzz/$$n.log 2>&1 || { cat build/fuzz/$$n.log; exit 1; }; \
		tail -1 build/fuzz/$$n.log; done

fuzz: $(FUZZ_TARGETS)
	@for f in $(FUZZ_TARGETS); do \
		n=$$(basename $$f); mkdir -p fuzz/corpus-run/$$n; \
		echo "== $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 fuzz/corpus-run/$$n fuzz/corpus/$${n#fuzz_} || exit 1; \
	done

bench: all
	bench/http.sh

bench-pg: all
	bench/pg.sh

bench-redis: all
	bench/redis.sh

demo: all
	$(PYTHON) examples/demo.py --bin $(abspath $(BUILD)/nodown)

endif
