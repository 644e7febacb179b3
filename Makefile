# mod_aiproxy suite: build, run and test.
#
#   make          build the three modules and the mock upstream into out/
#   make run      start the demo gateway on 127.0.0.1:$(PORT) (foreground)
#   make test     unit tests, fuzz corpora replayed, then integration tests against real httpd
#   make fuzz     build and run the libFuzzer harnesses (clang, ASan+UBSan)
#   make replay   replay the committed fuzz corpora through every harness (no libFuzzer)
#
# Dependencies are Debian packages; build/install-deps.sh installs whatever is missing.

ifndef AIPROXY_DEPS_CHECKED
# First pass: install any missing Debian package, then run the real build in a second make,
# whose flags (apxs, apr-1-config, pkg-config) need those packages to exist.
.DEFAULT_GOAL := all
.PHONY: all
all:
	@./build/install-deps.sh
	@$(MAKE) --no-print-directory AIPROXY_DEPS_CHECKED=1 $@
# FORCE: goals naming files (out/x.so) must reach the second make even when the file exists.
%:: FORCE
	@./build/install-deps.sh
	@$(MAKE) --no-print-directory AIPROXY_DEPS_CHECKED=1 $@
FORCE: ;
Makefile build/flags.mk: ;
else

PORT    ?= 8080
V       ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif
OUT     := out
CC      ?= gcc

include build/flags.mk

# One core (pure: APR + libraries, no httpd headers) and one glue set per module, plus the
# content codings (common/) that both modules link: client bodies and upstream traffic. The
# translate core is every .c file under mod_aiproxy_translate/, at any depth, not named mod_*.
COMMON_CORE    := $(sort $(wildcard common/*.c))
TRANSLATE_CORE := $(sort $(shell find mod_aiproxy_translate -name '*.c' ! -name 'mod_*'))
TRANSLATE_GLUE := $(sort $(wildcard mod_aiproxy_translate/mod_*.c))
ROUTER_CORE    := $(sort $(wildcard mod_aiproxy/aip_*.c))
ROUTER_GLUE    := $(sort $(wildcard mod_aiproxy/mod_*.c))
OAUTH_CORE     := $(sort $(wildcard mod_aiproxy_oauth/oa_*.c))
OAUTH_GLUE     := $(sort $(wildcard mod_aiproxy_oauth/mod_*.c))
MOCK_SRC       := $(sort $(wildcard test/mock/*.c))
UNIT_TESTS     := $(sort $(wildcard test/unit/test_*.c))
FUZZ_HARNESSES := $(sort $(wildcard test/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(OUT)/obj/%.o,$(1))

MODULES := $(OUT)/mod_aiproxy_translate.so $(OUT)/mod_aiproxy.so $(OUT)/mod_aiproxy_mock.so
ifneq ($(OAUTH_GLUE),)
MODULES += $(OUT)/mod_aiproxy_oauth.so
endif
UNIT_BINS := $(patsubst test/unit/%.c,$(OUT)/unit/%,$(UNIT_TESTS))
REPLAY_BINS := $(patsubst test/fuzz/%.c,$(OUT)/replay/%,$(FUZZ_HARNESSES))

.PHONY: all deps run test unit replay integration fuzz bench clean format
all: $(MODULES)

deps:
	@./build/install-deps.sh

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)

$(OUT)/mod_aiproxy_translate.so: $(call obj,$(COMMON_CORE) $(TRANSLATE_CORE) $(TRANSLATE_GLUE))
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) $(LIBS_TRANSLATE)
$(OUT)/mod_aiproxy.so: $(call obj,$(COMMON_CORE) $(ROUTER_CORE) $(ROUTER_GLUE))
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) $(LIBS_ROUTER)
$(OUT)/mod_aiproxy_oauth.so: $(call obj,$(OAUTH_CORE) $(OAUTH_GLUE))
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) $(LIBS_OAUTH)
$(OUT)/mod_aiproxy_mock.so: $(call obj,$(MOCK_SRC))
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) $(LIBS_MOCK)

# Unit tests link every pure core (never the glue) against cmocka.
CORE_OBJS = $(call obj,$(COMMON_CORE) $(TRANSLATE_CORE) $(ROUTER_CORE) $(OAUTH_CORE))
$(OUT)/unit/%: test/unit/%.c $(CORE_OBJS) $(wildcard test/unit/*.h)
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  TEST    $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Itest/unit -o $@ $< $(CORE_OBJS) $(LIBS_TEST)

unit: $(UNIT_BINS)
	@./build/run-unit.sh $(UNIT_BINS)

# Every libFuzzer harness also links against a plain main() (test/fuzz/replay_main.c) with the
# normal compiler and flags, so `make test` replays the committed corpora without clang.
$(OUT)/replay/%: test/fuzz/%.c $(call obj,test/fuzz/replay_main.c) $(CORE_OBJS)
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  REPLAY  $@"
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(call obj,test/fuzz/replay_main.c) $(CORE_OBJS) $(LIBS_REPLAY)

# Kept: make would otherwise delete this intermediate object after every link.
.SECONDARY: $(call obj,test/fuzz/replay_main.c)

replay: $(REPLAY_BINS)
	@./build/run-replay.sh $(REPLAY_BINS)

integration: all
	@./build/run-integration.sh

test: all $(UNIT_BINS) $(REPLAY_BINS)
	@./build/run-tests.sh $(UNIT_BINS) -- $(REPLAY_BINS)

# `make run CONFIG=/abs/config.yaml` reads the file's bind/listen with this tool: the YAML
# core (aip_yaml.c) with a main, so the address and the checks are the module's own.
$(OUT)/aiproxy-yaml-listen: mod_aiproxy/aip_yaml.c mod_aiproxy/aip_yaml.h
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -DAIP_YAML_LISTEN_TOOL -o $@ $< -lapr-1 -lyaml

run: all $(OUT)/aiproxy-yaml-listen
	@./build/run-demo.sh $(PORT) $(CONFIG)

fuzz:
	@./build/run-fuzz.sh $(FUZZ_RUNS)

bench: all
	@./bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(OUT)

endif
