# mod_aiproxy suite: build, run, test and install.
#
#   make          build the modules and the mock upstream into out/
#   make run      start the demo gateway on 127.0.0.1:$(PORT) (foreground)
#   make test     unit tests, fuzz corpora replayed, then integration tests against real httpd
#   make unit     the cmocka unit tests only           make replay   the fuzz corpora only
#   make fuzz     build and run the libFuzzer harnesses (clang, ASan+UBSan; FUZZ_RUNS=N)
#   make bench    benchmarks (bench/README.md)
#   make asan-modules  the modules with ASan+UBSan into out/asan/ (the soak test loads them)
#   make deb      the Debian package libapache2-mod-aiproxy into out/deb/
#   make test-deb build it, install it, a2enmod, start the system apache2 on it, remove it
#                 (changes the system: not part of make test; needs root)
#   make install  install the modules with apxs, and a2enmod files where /etc/apache2 exists
#                 (DESTDIR=/staging for packaging)
#   make clean    remove out/                          make format   clang-format every C file
#   make help     this text
#
# Every pure core (APR + libraries, no httpd headers) is compiled once into a static library
# under $(OUT)/lib, which the modules, the unit tests, the fuzz replays, the fuzzers and the
# benchmark link. The fuzzers are the same rules run with OUT=$(OUT)/fuzz and the clang and
# sanitizer flags of FUZZ_MAKE_VARS (build/run-fuzz.sh).
#
# Dependencies are Debian packages: build/install-deps.sh installs the ones a goal needs.

# Goals that need no package; every other goal needs at least the build group.
NO_DEPS_GOALS := clean format help

ifndef AIPROXY_DEPS_CHECKED
# First pass: install the packages the goals need, then run every goal in a second make, whose
# flags (apxs, apr-1-config, pkg-config) need those packages to exist.
GOALS := $(or $(MAKECMDGOALS),all)
# Package groups of build/install-deps.sh per goal; a goal not listed (a file) needs "build".
DEPS_unit        := build unit
DEPS_replay      := build
DEPS_test        := build unit run test
DEPS_integration := build run test
DEPS_run         := build run
DEPS_fuzz        := build fuzz
DEPS_fuzzers     := build fuzz
DEPS_bench       := build run bench
DEPS_deps        := build unit run test fuzz bench
DEPS_deb         := build deb
DEPS_test-deb    := build deb run test
deps_of = $(if $(filter $(NO_DEPS_GOALS),$(1)),,$(or $(DEPS_$(1)),build))
DEP_GROUPS := $(sort $(foreach goal,$(GOALS),$(call deps_of,$(goal))))

.PHONY: $(GOALS)
# One recipe for all goals, so the packages are checked once and the goals run in order.
$(firstword $(GOALS)):
	$(if $(DEP_GROUPS),@./build/install-deps.sh $(DEP_GROUPS))
	@$(MAKE) --no-print-directory AIPROXY_DEPS_CHECKED=1 $(GOALS)
$(filter-out $(firstword $(GOALS)),$(GOALS)): $(firstword $(GOALS))
	@:
else

PORT    ?= 8080
V       ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif
# out/ unless given on the command line (the fuzz build passes OUT=out/fuzz); an OUT in the
# environment does not move the build away from where the tests and scripts look.
ifneq ($(origin OUT),command line)
OUT := out
endif

include build/flags.mk

# Sources by directory and name, so new files and subdirectories need no edit here:
# glue is mod_*.c at the top of a module directory, its core every other .c below it.
core_sources = $(sort $(shell find $(1) -name '*.c' ! -name 'mod_*.c' 2>/dev/null))
glue_sources = $(sort $(wildcard $(1)/mod_*.c))
COMMON_CORE    := $(call core_sources,common)
TRANSLATE_CORE := $(call core_sources,mod_aiproxy_translate)
TRANSLATE_GLUE := $(call glue_sources,mod_aiproxy_translate)
ROUTER_CORE    := $(call core_sources,mod_aiproxy)
ROUTER_GLUE    := $(call glue_sources,mod_aiproxy)
OAUTH_CORE     := $(call core_sources,mod_aiproxy_oauth)
OAUTH_GLUE     := $(call glue_sources,mod_aiproxy_oauth)
MOCK_SRC       := $(sort $(wildcard test/mock/*.c))
UNIT_TESTS     := $(sort $(wildcard test/unit/test_*.c))
FUZZ_HARNESSES := $(sort $(wildcard test/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(OUT)/obj/%.o,$(1))

# One static library per core; the oauth one once its sources exist. common/ (the content
# codings, the endpoint fallback rule) goes into every module that uses it: it keeps no state,
# so the copies in one httpd process cannot disagree.
LIB_COMMON    := $(OUT)/lib/libaiproxy_common.a
LIB_TRANSLATE := $(OUT)/lib/libaiproxy_translate.a
LIB_ROUTER    := $(OUT)/lib/libaiproxy_router.a
LIB_OAUTH     := $(OUT)/lib/libaiproxy_oauth.a
CORE_LIBS     := $(LIB_COMMON) $(LIB_TRANSLATE) $(LIB_ROUTER) $(if $(OAUTH_CORE),$(LIB_OAUTH))
# Programs take from the cores what they use, in any order between the libraries.
link_cores = -Wl,--start-group $(CORE_LIBS) -Wl,--end-group

# The modules httpd loads (installed by `make install`) and the test-only mock upstream.
INSTALL_MODULES := $(OUT)/mod_aiproxy_translate.so $(OUT)/mod_aiproxy.so
ifneq ($(OAUTH_GLUE),)
INSTALL_MODULES += $(OUT)/mod_aiproxy_oauth.so
endif
MODULES := $(INSTALL_MODULES) $(OUT)/mod_aiproxy_mock.so
UNIT_BINS   := $(patsubst test/unit/%.c,$(OUT)/unit/%,$(UNIT_TESTS))
REPLAY_BINS := $(patsubst test/fuzz/%.c,$(OUT)/replay/%,$(FUZZ_HARNESSES))
# `make fuzzers FUZZ_NAMES="fuzz_route ..."` builds some harnesses only.
FUZZ_NAMES  ?= $(patsubst test/fuzz/%.c,%,$(FUZZ_HARNESSES))
FUZZ_BINS   := $(addprefix $(OUT)/fuzzer/,$(FUZZ_NAMES))

.PHONY: all deps run test unit replay integration fuzz fuzzers fuzzer-bins bench install \
        clean format help asan-modules deb test-deb
# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

all: $(MODULES)

deps:
	@:

# ---- compiling and archiving -------------------------------------------------------------------

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(CFLAGS_EXTRA) -MMD -MP -c $< -o $@

$(OUT)/obj/test/unit/%.o: CFLAGS_EXTRA := -Itest/unit

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)

$(LIB_COMMON): $(call obj,$(COMMON_CORE))
$(LIB_TRANSLATE): $(call obj,$(TRANSLATE_CORE))
$(LIB_ROUTER): $(call obj,$(ROUTER_CORE))
$(LIB_OAUTH): $(call obj,$(OAUTH_CORE))
# Written anew each time, so an object whose source moved or went away does not linger.
$(OUT)/lib/%.a:
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# ---- modules -----------------------------------------------------------------------------------

# A module holds its whole core (--whole-archive), as the other modules may call into it;
# archives named in $(2) give it only the members it calls.
link_module = $(CC) -shared -o $@ $(filter %.o,$^) \
    -Wl,--whole-archive $(filter-out $(2),$(filter %.a,$^)) -Wl,--no-whole-archive $(2) \
    $(LDFLAGS_ALL) $(1)

$(OUT)/mod_aiproxy_translate.so: $(call obj,$(TRANSLATE_GLUE)) $(LIB_TRANSLATE) $(LIB_COMMON)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(call link_module,$(LIBS_TRANSLATE))
$(OUT)/mod_aiproxy.so: $(call obj,$(ROUTER_GLUE)) $(LIB_ROUTER) $(LIB_COMMON)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(call link_module,$(LIBS_ROUTER))
# From common/ the oauth module calls the endpoint fallback rule only: not the content
# codings, nor their libraries.
$(OUT)/mod_aiproxy_oauth.so: $(call obj,$(OAUTH_GLUE)) $(LIB_OAUTH) $(LIB_COMMON)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(call link_module,$(LIBS_OAUTH),$(LIB_COMMON))
$(OUT)/mod_aiproxy_mock.so: $(call obj,$(MOCK_SRC))
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(call link_module,$(LIBS_MOCK))

# ---- programs linking the cores ----------------------------------------------------------------

# Unit tests: every core (never the glue) against cmocka.
$(UNIT_BINS): $(OUT)/unit/%: $(OUT)/obj/test/unit/%.o $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  TEST    $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(link_cores) $(LIBS_TEST)

unit: $(UNIT_BINS)
	@./build/run-unit.sh $(UNIT_BINS)

# Every libFuzzer harness also links against a plain main() (test/fuzz/replay_main.c) with the
# normal compiler and flags, so `make test` replays the committed corpora without clang.
$(REPLAY_BINS): $(OUT)/replay/%: $(OUT)/obj/test/fuzz/%.o $(OUT)/obj/test/fuzz/replay_main.o \
                                 $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  REPLAY  $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(link_cores) $(LIBS_CORE)

replay: $(REPLAY_BINS)
	@./build/run-replay.sh $(REPLAY_BINS)

# The libFuzzer binaries: meant for OUT=out/fuzz with FUZZ_MAKE_VARS, as `make fuzzers` does.
$(FUZZ_BINS): $(OUT)/fuzzer/%: $(OUT)/obj/test/fuzz/%.o $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  FUZZER  $@"
	$(Q)$(CC) -fsanitize=fuzzer $(LDFLAGS_ALL) -o $@ $< $(link_cores) $(LIBS_CORE)

fuzzer-bins: $(FUZZ_BINS)

# The instrumented build: the same rules and flags, clang and the sanitizers on top.
FUZZ_CC  ?= clang
FUZZ_OUT := $(OUT)/fuzz
FUZZ_MAKE_VARS = OUT=$(FUZZ_OUT) CC=$(FUZZ_CC) OPT="-O1 -g -fno-omit-frame-pointer" \
    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link"

fuzzers:
	@$(MAKE) --no-print-directory $(FUZZ_MAKE_VARS) FUZZ_NAMES="$(FUZZ_NAMES)" fuzzer-bins

# The modules once more with AddressSanitizer and UndefinedBehaviorSanitizer, into out/asan/,
# for the soak test (test/integration/test_soak.py loads them into apache2 with libasan
# preloaded). gcc, like the normal build; a UB report aborts the child that made it.
ASAN_MAKE_VARS = OUT=$(OUT)/asan OPT="-O1 -g -fno-omit-frame-pointer" \
    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

asan-modules:
	@$(MAKE) --no-print-directory $(ASAN_MAKE_VARS) $(OUT)/asan/mod_aiproxy_translate.so \
	    $(OUT)/asan/mod_aiproxy.so $(if $(OAUTH_GLUE),$(OUT)/asan/mod_aiproxy_oauth.so)

# build/run-fuzz.sh builds what it runs with `make fuzzers`, so it also works on its own.
fuzz:
	@./build/run-fuzz.sh $(or $(FUZZ_RUNS),1000000)

# `make run CONFIG=/abs/config.yaml` reads the file's bind/listen with this tool, which uses
# the YAML core (aip_yaml.c), so the address and the checks are the module's own.
$(OUT)/aiproxy-yaml-listen: $(OUT)/obj/build/aiproxy_yaml_listen.o $(CORE_LIBS)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(link_cores) $(LIBS_CORE)

include bench/bench.mk

# ---- commands ----------------------------------------------------------------------------------

integration: all
	@./build/run-integration.sh

test: all $(UNIT_BINS) $(REPLAY_BINS)
	@./build/run-tests.sh $(UNIT_BINS) -- $(REPLAY_BINS)

run: all $(OUT)/aiproxy-yaml-listen
	@./build/run-demo.sh $(PORT) $(CONFIG)

bench: all
	@./bench/run.sh

# Where `make install` puts things; DESTDIR prefixes every path written, never the paths that
# the installed .conf files name.
LIBEXECDIR     ?= $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)
APACHE_CONFDIR ?= $(shell $(APXS) -q SYSCONFDIR 2>/dev/null)
MODS_AVAILABLE ?= $(if $(wildcard $(APACHE_CONFDIR)/mods-available/.),$(APACHE_CONFDIR)/mods-available)

deb:
	@./build/deb.sh

test-deb: all
	@./build/deb.sh >/dev/null
	@/usr/bin/python3 -m pytest -p no:cacheprovider -q test/deb

install: $(INSTALL_MODULES)
	@APXS="$(APXS)" DESTDIR="$(DESTDIR)" LIBEXECDIR="$(LIBEXECDIR)" \
	    MODS_AVAILABLE="$(MODS_AVAILABLE)" ./build/install.sh $(INSTALL_MODULES)

help:
	@sed -n '3,/^#$$/{/^#$$/d;s/^# //;p;}' Makefile

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(OUT)

endif
