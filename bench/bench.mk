# Builds bench/bench_translate against the pure translate core (the tr_*.o objects that
# `make all` compiled for mod_aiproxy_translate.so) with the project's own flags.
#   make -C REPO -f bench/bench.mk       (bench/run.sh does this after `make all`)
include build/flags.mk
OUT ?= out
CC ?= gcc
TRANSLATE_CORE := $(sort $(wildcard mod_aiproxy_translate/tr_*.c))
CORE_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(TRANSLATE_CORE))

$(OUT)/bench/bench_translate: bench/bench_translate.c $(CORE_OBJS) include/aiproxy_translate.h
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $< $(CORE_OBJS) -laprutil-1 -lapr-1
