/*
 * fuzz_route.c: libFuzzer harness for the client route matcher (mod_aiproxy/aip_route.c).
 *
 * Input: the first byte holds the client hints (bit 0: anthropic-version sent, bit 1:
 * x-goog-api-key sent); the rest is a request target "path?query", split at the first '?' as
 * httpd splits r->uri from r->args (no '?' means no query, a NULL r->args). A NUL byte ends the
 * target, as it would end r->uri.
 *
 * Oracles (any violation aborts with the input):
 *  - aip_route_match answers MATCHED or UNKNOWN, the same twice; an unknown route leaves the
 *    route zeroed (the handler then only sets proto);
 *  - a matched route has a method, POST for generation and forwarded routes (with their
 *    table row) and GET for model lists and health, a kind, a protocol and a stream mode in
 *    range; a passthrough route has none, and its upstream and rest are the path's segments;
 *  - a Gemini model route has a non-empty model that is the path between models/ and the
 *    ":action" (it may carry '/', never an empty, "." or ".." segment), and streams exactly when
 *    the action is streamGenerateContent, as SSE exactly when the query has alt=sse; the action
 *    names the operation (embedContent and batchEmbedContents embed, the latter as variant
 *    "batch");
 *  - every other route has no model and does not stream;
 *  - aip_route_guess_proto answers a protocol in range that follows the hints and the /v1beta/
 *    prefix, and agrees with the matcher on the fixed generation routes.
 *
 * Each lookup of aip_route.h is checked by one function of route_checks[]: a new lookup (say
 * one finding the route at the end of a path below a mount prefix) adds one function there.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One fuzz input, decoded. */
typedef struct {
    apr_pool_t *pool;
    const char *path;
    const char *query; /* NULL: no '?' in the target */
    aip_client_hints hints;
} route_case;

static void broken(const route_case *c, const char *what) __attribute__((noreturn));

static void broken(const route_case *c, const char *what)
{
    fprintf(stderr, "fuzz_route: %s\npath: \"%s\"\nquery: %s%s%s\nhints: anthropic=%d goog=%d\n",
            what, c->path, c->query ? "\"" : "", c->query ? c->query : "(none)",
            c->query ? "\"" : "", c->hints.anthropic_version, c->hints.goog_api_key);
    abort();
}

static int starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* Whether query has the parameter alt=sse, written independently of aip_route.c's scan. */
static int has_alt_sse(const char *query)
{
    size_t n;

    if (!query)
        return 0;
    for (const char *q = query;; q += n + 1) {
        n = strcspn(q, "&");
        if (n == 7 && !strncmp(q, "alt=sse", 7))
            return 1;
        if (!q[n])
            return 0;
    }
}

static int same_string(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Gemini's actions on a model, written independently of aip_route.c's table. */
static const struct {
    const char *action;
    int streams;
    aiproxy_operation operation;
    const char *variant;
} gemini_actions[] = {
    {"generateContent", 0, AIPROXY_OP_GENERATE, NULL},
    {"streamGenerateContent", 1, AIPROXY_OP_GENERATE, NULL},
    {"embedContent", 0, AIPROXY_OP_EMBED, NULL},
    {"batchEmbedContents", 0, AIPROXY_OP_EMBED, "batch"},
    {"countTokens", 0, AIPROXY_OP_COUNT_TOKENS, NULL},
};

/* Is every '/'-separated segment of model non-empty and neither "." nor ".."? */
static int whole_segments(const char *model)
{
    char *copy = strdup(model), *state = NULL, *seg;
    size_t len = strlen(model);
    int ok = len > 0 && model[0] != '/' && model[len - 1] != '/' && !strstr(model, "//");

    for (seg = strtok_r(copy, "/", &state); ok && seg; seg = strtok_r(NULL, "/", &state))
        ok = strcmp(seg, ".") && strcmp(seg, "..");
    free(copy);
    return ok;
}

/* A Gemini model route: ".../models/{model}:{action}", model everything between the models/
 * prefix and the last ':' (it may carry '/': prefixed and vendor names). */
static void check_gemini_route(const route_case *c, const aip_route *r)
{
    const char *model = r->info.model, *at;
    size_t n, a;
    int streams;

    if (!model || !*model)
        broken(c, "a Gemini route without a model");
    if (!whole_segments(model))
        broken(c, "a Gemini model with an empty, . or .. segment");
    if (starts_with(c->path, "/v1beta/models/"))
        at = c->path + strlen("/v1beta/models/");
    else if (starts_with(c->path, "/v1/models/"))
        at = c->path + strlen("/v1/models/");
    else
        broken(c, "a Gemini route outside /v1beta/models/ and /v1/models/");
    n = strlen(model);
    if (strncmp(at, model, n) || at[n] != ':' || strchr(at + n + 1, ':') || strchr(at + n + 1, '/'))
        broken(c, "the Gemini model is not the path between models/ and the action");
    for (a = 0; a < sizeof(gemini_actions) / sizeof(gemini_actions[0]); a++) {
        if (!strcmp(at + n + 1, gemini_actions[a].action))
            break;
    }
    if (a == sizeof(gemini_actions) / sizeof(gemini_actions[0]))
        broken(c, "a Gemini route with an unknown action");
    streams = gemini_actions[a].streams;
    if (r->info.operation != gemini_actions[a].operation ||
        !same_string(r->info.variant, gemini_actions[a].variant))
        broken(c, "the Gemini operation or variant does not follow the action");
    if (r->info.stream != (!streams                ? AIPROXY_STREAM_NONE
                           : has_alt_sse(c->query) ? AIPROXY_STREAM_SSE
                                                   : AIPROXY_STREAM_JSON_ARRAY))
        broken(c, "the Gemini stream mode does not follow the action and alt=sse");
}

/* /passthrough/{upstream}/{rest}: any method; the upstream is the non-empty segment after the
 * prefix, rest the path after it ("/" when none). */
static void check_passthrough(const route_case *c, const aip_route *r)
{
    size_t n = strlen("/passthrough/");

    if (r->method || !starts_with(c->path, "/passthrough/") || !r->upstream || !r->rest)
        broken(c, "a passthrough route with a method, outside /passthrough/ or unnamed");
    if (!*r->upstream || strchr(r->upstream, '/') ||
        strncmp(c->path + n, r->upstream, strlen(r->upstream)))
        broken(c, "the passthrough upstream is not the segment after the prefix");
    if (strcmp(r->rest, c->path[n + strlen(r->upstream)] ? c->path + n + strlen(r->upstream) : "/"))
        broken(c, "the passthrough rest is not the path after the upstream");
}

static void check_match(const route_case *c)
{
    aip_route r, again;
    aip_route_result res = aip_route_match(c->pool, c->path, c->query, &r);

    if (aip_route_match(c->pool, c->path, c->query, &again) != res || r.kind != again.kind ||
        r.proto != again.proto || !same_string(r.method, again.method) ||
        !same_string(r.info.model, again.info.model) ||
        !same_string(r.info.variant, again.info.variant) || r.info.stream != again.info.stream)
        broken(c, "matching the same target twice gave different routes");
    if (res == AIP_ROUTE_UNKNOWN) {
        if (r.method || r.info.model || r.info.variant || r.info.stream)
            broken(c, "an unknown route left fields set");
        return;
    }
    if (res != AIP_ROUTE_MATCHED)
        broken(c, "a result neither MATCHED nor UNKNOWN");
    if (r.kind == AIP_ROUTE_PASSTHROUGH) {
        check_passthrough(c, &r);
        return;
    }
    if (!r.method)
        broken(c, "a matched route without a method");
    if (r.kind == AIP_ROUTE_GENERATE || r.kind == AIP_ROUTE_FORWARD ? strcmp(r.method, "POST")
        : r.kind == AIP_ROUTE_MODELS || r.kind == AIP_ROUTE_LIVEZ || r.kind == AIP_ROUTE_READYZ
            ? strcmp(r.method, "GET")
            : 1)
        broken(c, "a route kind out of range or with the wrong method");
    if ((r.kind == AIP_ROUTE_FORWARD) != (r.forward != NULL) ||
        (r.forward && (strcmp(r.forward->path, c->path) || r.info.operation != AIPROXY_OP_FORWARD)))
        broken(c, "a forwarded route without its row, or a row for another path");
    if (r.kind == AIP_ROUTE_LIVEZ || r.kind == AIP_ROUTE_READYZ)
        return;
    if ((unsigned) r.proto >= AIPROXY_PROTO_COUNT)
        broken(c, "a protocol out of range");
    if ((unsigned) r.info.stream > AIPROXY_STREAM_JSON_ARRAY)
        broken(c, "a stream mode out of range");
    if (!starts_with(c->path, "/v1"))
        broken(c, "a route outside /v1 and /v1beta");
    if (r.kind == AIP_ROUTE_GENERATE && r.proto == AIPROXY_PROTO_GEMINI)
        check_gemini_route(c, &r);
    else if (r.info.model || r.info.stream != AIPROXY_STREAM_NONE)
        broken(c, "a model or a stream mode on a route whose path names none");
}

static void check_guess(const route_case *c)
{
    static const aip_client_hints no_hints = {0, 0};
    aiproxy_proto guess = aip_route_guess_proto(c->path, &c->hints);
    aip_route r;

    if ((unsigned) guess >= AIPROXY_PROTO_COUNT)
        broken(c, "a guessed protocol out of range");
    if ((c->hints.goog_api_key || starts_with(c->path, "/v1beta/")) &&
        guess != AIPROXY_PROTO_GEMINI)
        broken(c, "a Gemini key or /v1beta/ path not guessed as Gemini");
    if (c->hints.anthropic_version && guess != AIPROXY_PROTO_GEMINI &&
        guess != AIPROXY_PROTO_ANTHROPIC)
        broken(c, "an anthropic-version header not guessed as Anthropic");
    /* The fixed generation routes name their protocol in the path: the guess must agree.
     * (Gemini paths under /v1/models/ are not guessed: OpenAI model ids may hold ':' too.) */
    if (aip_route_match(c->pool, c->path, c->query, &r) == AIP_ROUTE_MATCHED &&
        r.kind == AIP_ROUTE_GENERATE && r.proto != AIPROXY_PROTO_GEMINI &&
        aip_route_guess_proto(c->path, &no_hints) != r.proto)
        broken(c, "the guess disagrees with the matched route");
}

/* The route at the end of the path, below any prefix: it is a suffix of the path starting
 * at a '/', exactly what aip_route_match gives for that suffix, and no longer suffix (one
 * starting further left) matches. */
static void check_find(const route_case *c)
{
    aip_route found, direct;
    const char *at = NULL;
    aip_route_result res = aip_route_find(c->pool, c->path, c->query, &found, &at);

    if (res != AIP_ROUTE_MATCHED) {
        if (at || aip_route_match(c->pool, c->path, c->query, &direct) == AIP_ROUTE_MATCHED)
            broken(c, "find missed a route (or left its position set)");
        return;
    }
    if (!at || at < c->path || at >= c->path + strlen(c->path) || *at != '/')
        broken(c, "find matched outside the path or not at a '/'");
    if (aip_route_match(c->pool, at, c->query, &direct) != AIP_ROUTE_MATCHED ||
        direct.kind != found.kind || direct.proto != found.proto ||
        !same_string(direct.info.model, found.info.model))
        broken(c, "find and match disagree on the suffix");
    for (const char *p = c->path; p < at; p++) {
        if (*p == '/' && aip_route_match(c->pool, p, c->query, &direct) == AIP_ROUTE_MATCHED)
            broken(c, "find did not take the longest matching suffix");
    }
}

/* A parameter's name decoded (%xx, '+'), written independently of aip_route.c. */
static const char *decoded_name(apr_pool_t *p, const char *param, size_t n)
{
    char *out = apr_palloc(p, n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        unsigned int v;
        char hex[3] = {0};
        if (param[i] == '%' && i + 2 < n && apr_isxdigit(param[i + 1]) &&
            apr_isxdigit(param[i + 2])) {
            hex[0] = param[i + 1];
            hex[1] = param[i + 2];
            sscanf(hex, "%x", &v);
            *o++ = (char) v;
            i += 2;
        } else
            *o++ = param[i] == '+' ? ' ' : param[i];
    }
    *o = '\0';
    return (size_t) (o - out) == 3 ? out : "";
}

/* Redaction keeps every parameter in place, replaces exactly the values of those named "key"
 * (decoded, NUL-free), and is a fixed point. */
static void check_redact(const route_case *c)
{
    const char *got = c->query ? aip_route_redact_key(c->pool, c->query) : NULL;
    int keys = 0;
    const char *in = c->query, *out = got;

    for (; in; in = strchr(in, '&') ? strchr(in, '&') + 1 : NULL) {
        size_t len = strcspn(in, "&");
        const char *eq = memchr(in, '=', len);
        int is_key = eq && !strcmp(decoded_name(c->pool, in, (size_t) (eq - in)), "key");

        keys += is_key;
        if (!got)
            continue;
        if (is_key ? strncmp(out, in, (size_t) (eq - in) + 1) ||
                         strncmp(out + (eq - in) + 1, "REDACTED", 8) ||
                         (out[(eq - in) + 9] != '&' && out[(eq - in) + 9] != '\0')
                   : strncmp(out, in, len) || (out[len] != '&' && out[len] != '\0'))
            broken(c, "redaction changed a parameter it should keep, or kept a key");
        out = strchr(out, '&') ? strchr(out, '&') + 1 : out + strlen(out);
    }
    if (!keys != !got)
        broken(c, "redaction disagrees on whether there is a key");
    if (got && strcmp(aip_route_redact_key(c->pool, got), got))
        broken(c, "redaction is not a fixed point");
}

static void (*const route_checks[])(const route_case *) = {check_match, check_guess, check_find,
                                                           check_redact};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    route_case c;
    char *target, *mark;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    if (size == 0)
        return 0;
    apr_pool_create(&c.pool, root);
    c.hints.anthropic_version = data[0] & 1;
    c.hints.goog_api_key = (data[0] >> 1) & 1;
    target = apr_pstrmemdup(c.pool, (const char *) data + 1, size - 1);
    mark = strchr(target, '?');
    c.query = NULL;
    if (mark) {
        *mark = '\0';
        c.query = mark + 1;
    }
    c.path = target;
    for (size_t i = 0; i < sizeof(route_checks) / sizeof(route_checks[0]); i++)
        route_checks[i](&c);
    apr_pool_destroy(c.pool);
    return 0;
}
