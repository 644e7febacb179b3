/*
 * bench_translate.c: micro benchmarks of the pure translate core (no httpd), through the public
 * API of include/aiproxy_translate.h only.
 *
 *   bench_translate [DATA_DIR [FILTER]]   DATA_DIR default bench/data (run from the repository
 *                                         root); FILTER runs only figures whose name contains it
 *                                         (to profile one case under perf or callgrind)
 *
 * Figures (median ns/op of thread CPU time over ROUNDS rounds, after a warm-up/calibration
 * round; CPU time, not wall time, because the machine is shared):
 *   request  OpenAI chat (~4 KB, tools, tool calls) -> Anthropic: parse + build   target < 20 us
 *   request  same body, OpenAI -> OpenAI passthrough (model rewrite)              reference
 *   stream   Anthropic SSE -> OpenAI SSE, per event, one feed call per event      target < 2 us
 *   stream   OpenAI SSE -> OpenAI SSE passthrough, per event                      reference
 *   response Anthropic JSON -> OpenAI JSON (complete body)                        reference
 *   stream   Kiro AWS event stream -> Anthropic SSE, per frame, 8 KiB feeds          reference
 *   frames   the event-stream decoder alone (CRCs, headers), per frame, 8 KiB feeds    reference
 *   matrix   every upstream x client protocol pair, SSE in and out (Kiro: event-stream
 *            frames in), per upstream event, the stream fed in 8 KiB pieces (what
 *            mod_proxy_http passes on)
 *   stack    the same pairs: stack bytes the translation uses below its caller (httpd calls it
 *            from the response filter, under mod_proxy_http's response loop: each 4 KiB page
 *            the whole depth crosses is kept per open stream; bench/stack_depth.py)
 *
 * Every op runs in its own subpool, created and destroyed per op as httpd does per request.
 * The Kiro input is built with the core's frame writer and the decoder figure calls the decoder
 * directly (pipeline/tr_eventstream.h): the only figures below the public API.
 * Lines "FIGURE name|value|target|ok|note" are read by bench/bench.py for its summary table;
 * a figure whose translation is not implemented yet prints "not available yet".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "aiproxy_translate.h"
#include "json/tr_buf.h"
#include "pipeline/tr_eventstream.h"

#define ROUNDS          9
#define ROUND_NS        60000000.0 /* about 60 ms of CPU per round */
#define MATRIX_ROUND_NS 15000000.0 /* 15 ms per round for the 16 matrix cells */
#define STREAM_DELTAS   1000       /* text deltas per benchmarked stream */
#define FEED_PIECE      8192       /* matrix: bytes per feed call */

/* CPU time of this thread, not wall time: time spent preempted by other processes of the
 * shared machine must not count. */
static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* One benchmarked operation: returns NULL on success, else a reason; *units is how many units
 * (ops, or events for a stream) the call processed. */
typedef const char *(*op_fn)(apr_pool_t *p, const void *arg, long *units);

typedef struct {
    double median_ns, min_ns, max_ns; /* per unit */
    const char *failure;              /* NULL: ran */
} bench_result;

static bench_result run_bench(apr_pool_t *parent, op_fn fn, const void *arg, double round_ns)
{
    bench_result res = {0, 0, 0, NULL};
    double per_round[ROUNDS];
    long iters = 1;
    apr_pool_t *p;
    long units = 0;

    /* Warm-up and calibration: grow the iteration count until a round takes round_ns. */
    for (;;) {
        double t0 = now_ns(), dt;
        for (long i = 0; i < iters; i++) {
            apr_pool_create(&p, parent);
            res.failure = fn(p, arg, &units);
            if (res.failure)
                res.failure = apr_pstrdup(parent, res.failure);
            apr_pool_destroy(p);
            if (res.failure)
                return res;
        }
        dt = now_ns() - t0;
        if (dt >= round_ns / 4) {
            iters = (long) ((double) iters * round_ns / dt) + 1;
            break;
        }
        iters *= 4;
    }
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_ns(), total_units = 0;
        for (long i = 0; i < iters; i++) {
            apr_pool_create(&p, parent);
            fn(p, arg, &units);
            apr_pool_destroy(p);
            total_units += (double) units;
        }
        per_round[r] = (now_ns() - t0) / total_units;
    }
    qsort(per_round, ROUNDS, sizeof(double), cmp_double);
    res.median_ns = per_round[ROUNDS / 2];
    res.min_ns = per_round[0];
    res.max_ns = per_round[ROUNDS - 1];
    return res;
}

/* ---- requests ------------------------------------------------------------------------------ */

typedef struct {
    const char *body;
    apr_size_t len;
    aiproxy_proto target;
} request_case;

static const char *request_op(apr_pool_t *p, const void *arg, long *units)
{
    const request_case *c = arg;
    aiproxy_error err = {0, NULL, NULL, NULL};
    aiproxy_target target = {.proto = c->target,
                             .model = "upstream-model",
                             .stream = 0,
                             .default_max_tokens = 0,
                             .dialect = AIPROXY_DIALECT_NONE};
    aiproxy_upstream_request out;
    aiproxy_request *req;
    int rc;

    *units = 1;
    req = aiproxy_request_parse(p, AIPROXY_PROTO_OPENAI, c->body, c->len, NULL, &err);
    if (!req)
        return apr_psprintf(p, "parse failed: %d %s", err.status, err.message);
    memset(&out, 0, sizeof(out));
    rc = aiproxy_request_build(p, req, &target, &out, &err);
    if (rc)
        return apr_psprintf(p, "build answered %d: %s", rc, err.message ? err.message : "");
    if (!out.body || out.len == 0)
        return "build produced no body";
    return NULL;
}

/* ---- responses ----------------------------------------------------------------------------- */

typedef struct {
    apr_size_t bytes;
    long writes;
} count_sink;

static apr_status_t count_write(void *baton, const char *data, apr_size_t len)
{
    count_sink *s = baton;
    (void) data;
    s->bytes += len;
    s->writes++;
    return APR_SUCCESS;
}

typedef struct {
    aiproxy_response_spec spec;
    const char **chunks; /* one feed call per chunk */
    apr_size_t *lens;
    int nchunks;
    long events; /* units reported per op */
} response_case;

static const char *response_op(apr_pool_t *p, const void *arg, long *units)
{
    const response_case *c = arg;
    count_sink cs = {0, 0};
    aiproxy_sink sink = {count_write, &cs};
    const aiproxy_response_info *info;
    aiproxy_response *t;
    apr_status_t rv;

    *units = c->events;
    t = aiproxy_response_create(p, &c->spec);
    if (!t)
        return "aiproxy_response_create returned NULL";
    for (int i = 0; i < c->nchunks; i++) {
        rv = aiproxy_response_feed(t, c->chunks[i], c->lens[i], &sink);
        if (rv != APR_SUCCESS)
            return apr_psprintf(p, "feed failed at chunk %d (status %d)", i, rv);
    }
    rv = aiproxy_response_finish(t, 0, &sink);
    if (rv != APR_SUCCESS)
        return apr_psprintf(p, "finish failed (status %d)", rv);
    if (cs.bytes == 0)
        return "no output";
    info = aiproxy_response_get_info(t);
    if (info && info->seen_error)
        return "the translator reported an error for a valid stream";
    return NULL;
}

static void finish_case(response_case *c, int n)
{
    c->nchunks = n;
    for (int k = 0; k < n; k++)
        c->lens[k] = strlen(c->chunks[k]);
}

static response_case *new_case(apr_pool_t *p, int max_chunks)
{
    response_case *c = apr_pcalloc(p, sizeof(*c));
    c->chunks = apr_pcalloc(p, sizeof(char *) * (apr_size_t) max_chunks);
    c->lens = apr_pcalloc(p, sizeof(apr_size_t) * (apr_size_t) max_chunks);
    return c;
}

/* Anthropic Messages stream: start, one text block of STREAM_DELTAS deltas, stop. One chunk per
 * event, as an upstream flushing every event delivers it. */
static response_case *anthropic_stream(apr_pool_t *p)
{
    response_case *c = new_case(p, STREAM_DELTAS + 5);
    int i = 0;

    c->chunks[i++] =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
        "\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
        "\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,"
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":1025,\"output_tokens\":1}}}\n\n";
    c->chunks[i++] = "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                     "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
    for (int d = 0; d < STREAM_DELTAS; d++) {
        c->chunks[i++] = apr_psprintf(
            p,
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"token %d of the answer, \"}}\n\n",
            d);
    }
    c->chunks[i++] =
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    c->chunks[i++] = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{"
                     "\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{"
                     "\"output_tokens\":3000}}\n\n";
    c->chunks[i++] = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    finish_case(c, i);
    c->events = i;
    c->spec.client = AIPROXY_PROTO_OPENAI;
    c->spec.client_stream = AIPROXY_STREAM_SSE;
    c->spec.upstream = AIPROXY_PROTO_ANTHROPIC;
    c->spec.upstream_stream = AIPROXY_STREAM_SSE;
    c->spec.client_model = "bench-anthropic";
    c->spec.include_usage = 1;
    return c;
}

/* OpenAI Chat Completions stream of the same length, for the passthrough reference. */
static response_case *openai_stream(apr_pool_t *p)
{
    response_case *c = new_case(p, STREAM_DELTAS + 4);
    const char *head = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\","
                       "\"created\":1795320948,\"model\":\"bench-openai\",\"choices\":[";
    int i = 0;

    c->chunks[i++] = apr_pstrcat(p, head,
                                 "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                                 "\"finish_reason\":null}]}\n\n",
                                 NULL);
    for (int d = 0; d < STREAM_DELTAS; d++) {
        c->chunks[i++] = apr_psprintf(p,
                                      "%s{\"index\":0,\"delta\":{\"content\":\"token %d of the "
                                      "answer, \"},\"finish_reason\":null}]}\n\n",
                                      head, d);
    }
    c->chunks[i++] =
        apr_pstrcat(p, head, "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", NULL);
    c->chunks[i++] = apr_pstrcat(p, head,
                                 "],\"usage\":{\"prompt_tokens\":1025,\"completion_tokens\":3000,"
                                 "\"total_tokens\":4025}}\n\n",
                                 NULL);
    c->chunks[i++] = "data: [DONE]\n\n";
    finish_case(c, i);
    c->events = i;
    c->spec.client = AIPROXY_PROTO_OPENAI;
    c->spec.client_stream = AIPROXY_STREAM_SSE;
    c->spec.upstream = AIPROXY_PROTO_OPENAI;
    c->spec.upstream_stream = AIPROXY_STREAM_SSE;
    c->spec.client_model = "bench-openai";
    c->spec.include_usage = 1;
    return c;
}

/* A complete Anthropic JSON response (text and a tool call) for an OpenAI client. */
static response_case *anthropic_json(apr_pool_t *p)
{
    static const char body[] =
        "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\",\"text\":\"None of the "
        "workers sets ttl, so httpd may reuse a pooled connection that gunicorn already closed. "
        "Set ttl=1 on each BalancerMember and re-enable the third member through "
        "balancer-manager.\"},{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
        "\"name\":\"set_member_status\",\"input\":{\"balancer\":\"app\",\"member\":"
        "\"http://10.0.0.13:8000\",\"status\":\"enable\"}}],\"stop_reason\":\"tool_use\","
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":1025,\"output_tokens\":96,"
        "\"cache_read_input_tokens\":512,\"cache_creation_input_tokens\":0}}";
    response_case *c = new_case(p, 1);

    c->chunks[0] = body;
    finish_case(c, 1);
    c->events = 1;
    c->spec.client = AIPROXY_PROTO_OPENAI;
    c->spec.client_stream = AIPROXY_STREAM_NONE;
    c->spec.upstream = AIPROXY_PROTO_ANTHROPIC;
    c->spec.upstream_stream = AIPROXY_STREAM_NONE;
    c->spec.client_model = "bench-anthropic";
    return c;
}

/* ---- matrix: one text stream per upstream protocol, fed in FEED_PIECE pieces ---------------- */

static const char *const proto_names[] = {"anthropic", "openai", "responses", "gemini", "kiro"};

/* One Kiro event frame (research/oauth.md §5) appended to b. */
static void kiro_event(tr_buf *b, const char *type, const char *payload)
{
    tr_es_header h[3] = {
        {":message-type", 13, TR_ES_STRING, 0, "event", 5},
        {":event-type", 11, TR_ES_STRING, 0, type, strlen(type)},
        {":content-type", 13, TR_ES_STRING, 0, "application/json", 16},
    };
    tr_es_frame_append(b, h, 3, payload, strlen(payload));
}

/* A Kiro answer of STREAM_DELTAS text frames, then metering and usage. */
static char *kiro_stream(apr_pool_t *p, apr_size_t *len, long *events)
{
    tr_buf *b = tr_buf_make(p, 0);
    char *s;

    for (int i = 0; i < STREAM_DELTAS; i++)
        kiro_event(b, "assistantResponseEvent",
                   "{\"content\":\"some tokens \\\"quoted\\\" and more\"}");
    kiro_event(b, "meteringEvent", "{\"unit\":\"credit\",\"usage\":0.02}");
    kiro_event(b, "metadataEvent", "{\"tokenUsage\":{\"inputTokens\":5,\"outputTokens\":9}}");
    *events = STREAM_DELTAS + 2;
    *len = b->len;
    s = apr_pmemdup(p, b->data, b->len);
    tr_buf_release(b);
    return s;
}

/* The decoder alone: frames found and checked, nothing translated. */
typedef struct {
    const char *stream;
    apr_size_t len;
    long frames;
} frames_case;

static apr_status_t count_frame(void *baton, const tr_es_message *msg)
{
    (*(long *) baton)++;
    return msg->payload_len ? APR_SUCCESS : APR_EGENERAL;
}

static const char *frames_op(apr_pool_t *p, const void *arg, long *units)
{
    const frames_case *c = arg;
    tr_es_decoder *d = tr_es_decoder_create(p, 0);
    long seen = 0;

    *units = c->frames;
    for (apr_size_t at = 0; at < c->len; at += FEED_PIECE) {
        apr_size_t n = c->len - at < FEED_PIECE ? c->len - at : FEED_PIECE;
        if (tr_es_decoder_feed(d, c->stream + at, n, count_frame, &seen) != APR_SUCCESS)
            return tr_es_decoder_error(d) ? tr_es_decoder_error(d) : "a frame without payload";
    }
    return seen == c->frames ? NULL : "frames lost";
}

/* A stream of STREAM_DELTAS text deltas plus its start and end in the upstream's own format;
 * *events counts every SSE event in it. */
static char *native_stream(apr_pool_t *p, aiproxy_proto up, apr_size_t *len, long *events)
{
    static const char text[] = "some tokens \\\"quoted\\\" and more";
    apr_size_t cap = (apr_size_t) STREAM_DELTAS * 400 + 4096, n = 0;
    char *s = apr_palloc(p, cap);

#define ADD(...) n += (apr_size_t) snprintf(s + n, cap - n, __VA_ARGS__)
    switch (up) {
    case AIPROXY_PROTO_ANTHROPIC:
        ADD("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
            "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],"
            "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
            "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        for (int i = 0; i < STREAM_DELTAS; i++)
            ADD("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                "\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
                text);
        ADD("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
            "\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n"
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        *events = STREAM_DELTAS + 5;
        break;
    case AIPROXY_PROTO_OPENAI:
        for (int i = 0; i < STREAM_DELTAS; i++)
            ADD("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
                "\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
                "\"finish_reason\":null}]}\n\n",
                text);
        ADD("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},"
            "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        *events = STREAM_DELTAS + 2;
        break;
    case AIPROXY_PROTO_RESPONSES:
        ADD("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":"
            "\"resp_1\",\"model\":\"m\"}}\n\nevent: response.content_part.added\ndata: {\"type\":"
            "\"response.content_part.added\",\"output_index\":0,\"content_index\":0,\"part\":{"
            "\"type\":\"output_text\",\"text\":\"\"}}\n\n");
        for (int i = 0; i < STREAM_DELTAS; i++)
            ADD("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
                "\"sequence_number\":%d,\"item_id\":\"msg_1\",\"output_index\":0,"
                "\"content_index\":0,\"delta\":\"%s\"}\n\n",
                i + 2, text);
        ADD("event: response.content_part.done\ndata: {\"type\":\"response.content_part.done\","
            "\"output_index\":0,\"content_index\":0}\n\nevent: response.completed\ndata: {"
            "\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":"
            "\"completed\"}}\n\n");
        *events = STREAM_DELTAS + 4;
        break;
    default:
        for (int i = 0; i < STREAM_DELTAS; i++)
            ADD("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"%s\"}],\"role\":"
                "\"model\"},\"index\":0}],\"modelVersion\":\"m\",\"responseId\":\"r1\"}\r\n\r\n",
                text);
        ADD("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},"
            "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5,"
            "\"candidatesTokenCount\":9,\"totalTokenCount\":14}}\r\n\r\n");
        *events = STREAM_DELTAS + 1;
        break;
    }
#undef ADD
    *len = n;
    return s;
}

static response_case *matrix_case(apr_pool_t *p, aiproxy_proto up, aiproxy_proto client,
                                  const char *stream, apr_size_t len, long events)
{
    int pieces = (int) ((len + FEED_PIECE - 1) / FEED_PIECE);
    response_case *c = new_case(p, pieces);

    for (int i = 0; i < pieces; i++) {
        apr_size_t at = (apr_size_t) i * FEED_PIECE;
        c->chunks[i] = stream + at;
        c->lens[i] = len - at < FEED_PIECE ? len - at : FEED_PIECE;
    }
    c->nchunks = pieces;
    c->events = events;
    c->spec.client = client;
    c->spec.client_stream = AIPROXY_STREAM_SSE;
    c->spec.upstream = up;
    c->spec.upstream_stream =
        up == AIPROXY_PROTO_KIRO ? AIPROXY_STREAM_EVENTSTREAM : AIPROXY_STREAM_SSE;
    c->spec.client_model = "client-model";
    c->spec.include_usage = 1;
    return c;
}

/* ---- main ------------------------------------------------------------------------------------ */

static const char *filter; /* run only figures whose name contains this */

static int wanted(const char *name)
{
    return !filter || strstr(name, filter) != NULL;
}

static void report(const char *name, const char *unit, bench_result r, double target_ns,
                   const char *note)
{
    char target[64] = "";
    const char *ok = "-";

    if (target_ns > 0) {
        snprintf(target, sizeof(target), "< %.0f ns/%s", target_ns, unit);
        ok = r.failure ? "-" : (r.median_ns < target_ns ? "1" : "0");
    }
    if (r.failure) {
        printf("%-48s not available yet (%s)\n", name, r.failure);
        printf("FIGURE %s|not available yet|%s|-|%s\n", name, target, r.failure);
        return;
    }
    printf("%-48s median %8.0f ns/%s  (min %.0f, max %.0f over %d rounds)\n", name, r.median_ns,
           unit, r.min_ns, r.max_ns, ROUNDS);
    printf("FIGURE %s|%.0f ns/%s (%.2f us)|%s|%s|%s\n", name, r.median_ns, unit,
           r.median_ns / 1000.0, target, ok, note);
}

static char *slurp(apr_pool_t *p, const char *path, apr_size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = apr_palloc(p, (apr_size_t) n + 1);
    *len = fread(buf, 1, (size_t) n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* ---- stack use ------------------------------------------------------------------------------ */

#define STACK_PAINTED (64 * 1024)
#define STACK_MARK    0xa5

static uintptr_t painted_low; /* the lowest address paint_stack() marked */

/* Mark the stack below the caller's frame: an op called next from the same frame overwrites
 * the marks as deep as it goes. */
static __attribute__((noinline)) void paint_stack(void)
{
    volatile unsigned char area[STACK_PAINTED];

    for (size_t i = 0; i < sizeof(area); i++)
        area[i] = STACK_MARK;
    painted_low = (uintptr_t) area;
}

/* Bytes of stack one run of the case uses, after a run that made the thread's first
 * allocations (in httpd, earlier requests of the same thread did). 0 if it failed. */
static __attribute__((noinline)) apr_size_t stack_used(apr_pool_t *parent, const response_case *c)
{
    const volatile unsigned char *mark;
    apr_pool_t *p;
    const char *failure;
    long units;

    for (int run = 0; run < 2; run++) {
        apr_pool_create(&p, parent);
        if (run == 1)
            paint_stack();
        failure = response_op(p, c, &units);
        apr_pool_destroy(p);
        if (failure)
            return 0;
    }
    mark = (const volatile unsigned char *) painted_low;
    for (apr_size_t at = 0; at < STACK_PAINTED; at++)
        if (mark[at] != STACK_MARK)
            return STACK_PAINTED - at;
    return 0;
}

/* A matrix cell: the figure for one pair, or < 0 when the pair failed. */
typedef double (*cell_fn)(apr_pool_t *pool, const response_case *c);

static double cpu_cell(apr_pool_t *pool, const response_case *c)
{
    bench_result r = run_bench(pool, response_op, c, MATRIX_ROUND_NS);
    return r.failure ? -1 : r.median_ns;
}

static double stack_cell(apr_pool_t *pool, const response_case *c)
{
    apr_size_t used = stack_used(pool, c);
    return used ? (double) used : -1;
}

static void print_matrix(apr_pool_t *pool, const char *title, cell_fn cell)
{
    printf("%s\n", title);
    printf("  %-14s", "up \\ client");
    for (int c = 0; c < AIPROXY_PROTO_COUNT; c++)
        printf("%12s", proto_names[c]);
    printf("\n");
    for (int up = 0; up < AIPROXY_PROTO_UPSTREAM_COUNT; up++) {
        apr_size_t len;
        long events;
        char *stream = up == AIPROXY_PROTO_KIRO
                           ? kiro_stream(pool, &len, &events)
                           : native_stream(pool, (aiproxy_proto) up, &len, &events);

        printf("  %-14s", proto_names[up]);
        for (int c = 0; c < AIPROXY_PROTO_COUNT; c++) {
            double v = cell(pool, matrix_case(pool, (aiproxy_proto) up, (aiproxy_proto) c, stream,
                                              len, events));
            if (v < 0)
                printf("%12s", "n/a");
            else
                printf("%12.0f", v);
        }
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "bench/data";
    apr_pool_t *pool;
    request_case req_trans, req_same;
    response_case *sse_trans, *sse_same, *json_trans;
    char note[128];

    filter = argc > 2 ? argv[2] : NULL;
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    req_trans.body =
        slurp(pool, apr_pstrcat(pool, dir, "/openai_chat_4k.json", NULL), &req_trans.len);
    if (!req_trans.body) {
        fprintf(stderr, "bench_translate: cannot read %s/openai_chat_4k.json\n", dir);
        return 2;
    }
    req_trans.target = AIPROXY_PROTO_ANTHROPIC;
    req_same = req_trans;
    req_same.target = AIPROXY_PROTO_OPENAI;

#define BENCH(name, unit, fn, arg, target, note)                                                   \
    do {                                                                                           \
        if (wanted(name))                                                                          \
            report(name, unit, run_bench(pool, fn, arg, ROUND_NS), target, note);                  \
    } while (0)

    snprintf(note, sizeof(note), "%" APR_SIZE_T_FMT " B body with tools and a tool call",
             req_trans.len);
    BENCH("request openai->anthropic parse+build", "op", request_op, &req_trans, 20000, note);
    BENCH("request openai->openai passthrough", "op", request_op, &req_same, 0, note);

    sse_trans = anthropic_stream(pool);
    sse_same = openai_stream(pool);
    snprintf(note, sizeof(note), "%ld events, one feed call per event", sse_trans->events);
    BENCH("stream anthropic->openai SSE per event", "event", response_op, sse_trans, 2000, note);
    snprintf(note, sizeof(note), "%ld events, one feed call per event", sse_same->events);
    BENCH("stream openai->openai SSE per event", "event", response_op, sse_same, 0, note);

    json_trans = anthropic_json(pool);
    BENCH("response anthropic->openai JSON body", "op", response_op, json_trans, 0,
          "text + tool_use, 700 B");

    {
        frames_case frames;
        long events;
        frames.stream = kiro_stream(pool, &frames.len, &events);
        frames.frames = events;
        snprintf(note, sizeof(note), "%ld frames, %" APR_SIZE_T_FMT " B, %d-byte feeds", events,
                 frames.len, FEED_PIECE);
        BENCH("stream kiro->anthropic event-stream per frame", "event", response_op,
              matrix_case(pool, AIPROXY_PROTO_KIRO, AIPROXY_PROTO_ANTHROPIC, frames.stream,
                          frames.len, events),
              0, note);
        BENCH("eventstream decode only per frame", "event", frames_op, &frames, 0, note);
    }
#undef BENCH

    if (wanted("matrix"))
        print_matrix(pool,
                     apr_psprintf(pool,
                                  "matrix: ns of CPU per upstream event, SSE in (Kiro: "
                                  "event-stream frames) and out, %d text deltas fed in %d-byte "
                                  "pieces (median of %d rounds)",
                                  STREAM_DELTAS, FEED_PIECE, ROUNDS),
                     cpu_cell);
    if (wanted("stack"))
        print_matrix(pool,
                     "stack: bytes the same streams use below the feed call's caller (the "
                     "deepest of every event)",
                     stack_cell);
    apr_pool_destroy(pool);
    return 0;
}
