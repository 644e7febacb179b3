# Builds bench/bench_translate against the pure translate core (the objects of every .c file
# under mod_aiproxy_translate/ not named mod_*, which `make all` compiled for
# mod_aiproxy_translate.so) with the project's own flags.
#   make -C REPO -f bench/bench.mk       (bench/run.sh does this after `make all`)
include build/flags.mk
OUT ?= out
CC ?= gcc
TRANSLATE_CORE := $(sort $(shell find mod_aiproxy_translate -name '*.c' ! -name 'mod_*'))
CORE_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(TRANSLATE_CORE))

$(OUT)/bench/bench_translate: bench/bench_translate.c $(CORE_OBJS) include/aiproxy_translate.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $< $(CORE_OBJS) -laprutil-1 -lapr-1
