/*
 * bench_metrics.c: what the metrics and the shared turns add to one request, measured on the
 * pure core (no httpd): the turn of the upstream order (aip_select_order on shared words), the
 * turn of the API key (aip_key_walk_begin on a shared word), the attempt's row and count, and
 * the request's row, histograms and token counters, as mod_aiproxy_metrics.c records them.
 *
 *   bench_metrics       prints "FIGURE name|value|target|ok|note" for bench/bench.py
 *
 * Median ns per request of thread CPU time over ROUNDS rounds (CPU time, not wall time: the
 * machine is shared). The target compares it with the gateway's CPU per request of figure 1
 * (about 90 us on the reference machine): 2 % of that is 1.8 us.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "aip_config.h"
#include "aip_keys.h"
#include "aip_metrics.h"
#include "aip_select.h"

#define ROUNDS     9
#define ITERATIONS 200000
#define TARGET_NS  1800.0

static double thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static int not_benched(void *baton, int index)
{
    return 0;
}

int main(void)
{
    apr_pool_t *pool;
    aip_config *cfg;
    aip_selector *sel;
    aip_metrics_layout *layout;
    aip_metrics_row *rows;
    volatile apr_uint32_t *words;
    aip_key_ring ring = {.count = 2};
    double per_request[ROUNDS];
    const char *names[] = {"rr-a", "rr-b"};
    volatile apr_uint64_t sink = 0;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    cfg = aip_config_create(pool);
    for (int i = 0; i < 2; i++) {
        aip_upstream *up = aip_upstream_create(pool, names[i], "http://127.0.0.1:1");
        aip_upstream_set(pool, up, "api", "openai");
        aip_upstream_set(pool, up, "token", "k1");
        aip_upstream_set(pool, up, "token", "k2");
        aip_upstream_set(pool, up, "models", "bench-rr,other-model");
        up->index = i;
        APR_ARRAY_PUSH(cfg->upstreams, aip_upstream *) = up;
    }
    sel = aip_selector_create(pool, cfg);
    words = apr_pcalloc(pool, sizeof(apr_uint32_t) * (aip_selector_turns(sel) + 1));
    aip_selector_share_turns(sel, words);
    ring.shared_turn = &words[aip_selector_turns(sel)];
    layout = aip_metrics_layout_create(pool, cfg);
    rows = apr_pcalloc(pool, sizeof(*rows) * layout->rows);

    for (int round = 0; round < ROUNDS; round++) {
        double start = thread_ns();
        for (int i = 0; i < ITERATIONS; i++) {
            const aip_upstream *order[2];
            long long tokens[AIP_TOKEN_TYPES] = {1200, 300, 1024, 0, 0};
            aip_key_walk walk;
            int n = aip_select_order(sel, "bench-rr", order, 2);

            aip_key_walk_begin(&ring, &walk);
            sink += (apr_uint64_t) aip_key_walk_next(&walk, not_benched, NULL) + (apr_uint64_t) n;
            aip_metrics_count_attempt(
                &rows[aip_metrics_row_of(layout, order[0]->index, "bench-rr", AIPROXY_PROTO_OPENAI,
                                         aip_status_class_of(200))],
                200);
            aip_metrics_count_request(
                &rows[aip_metrics_row_of(layout, order[0]->index, "bench-rr", AIPROXY_PROTO_OPENAI,
                                         aip_status_class_of(200))],
                180000 + (apr_uint64_t) (i & 1023), 1, 40000, tokens);
        }
        per_request[round] = (thread_ns() - start) / ITERATIONS;
    }
    qsort(per_request, ROUNDS, sizeof(double), cmp_double);
    printf("FIGURE metrics + shared turns, core work per request|%.0f ns|< %.0f ns (2 %% of "
           "90 us)|%d|turn of upstream and key, attempt and request rows, 2 histograms, "
           "tokens; median of %d rounds of %d\n",
           per_request[ROUNDS / 2], TARGET_NS, per_request[ROUNDS / 2] < TARGET_NS, ROUNDS,
           ITERATIONS);
    apr_pool_destroy(pool);
    apr_terminate();
    return sink == 0; /* the loop's results are used */
}
