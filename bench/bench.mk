# The translate micro benchmark, included by the Makefile: bench/bench_translate.c compiled by
# the common object rule and linked against the core libraries the modules use (the
# translate core needs the common one: the shared allocators).
#   make out/bench/bench_translate      (bench/run.sh builds it after `make all`)
$(OUT)/bench/bench_translate: $(OUT)/obj/bench/bench_translate.o $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(link_cores) $(LIBS_CORE)

# The metrics and shared turns micro benchmark (figure 6): bench/bench_metrics.c against the
# router core library.
#   make out/bench/bench_metrics
$(OUT)/bench/bench_metrics: $(OUT)/obj/bench/bench_metrics.o $(CORE_LIBS)
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(link_cores) $(LIBS_CORE)

# The load sides of bench/capacity.py: a client that opens and times many streams and an
# upstream that holds them, each one epoll thread in C so the CPU goes to the gateway under
# test. No libraries: libc (and libm for the percentiles).
#   make out/bench/capacity_client out/bench/capacity_upstream   (capacity.py builds them)
CAPACITY_BINS := $(OUT)/bench/capacity_client $(OUT)/bench/capacity_upstream
$(CAPACITY_BINS): $(OUT)/bench/%: $(OUT)/obj/bench/%.o
	@mkdir -p $(dir $@)
	@[ "$(V)" != 0 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< -lm
