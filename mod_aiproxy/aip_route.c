/* aip_route.c: see aip_route.h. */
#include <string.h>
#include "apr_strings.h"
#include "aip_passthrough.h"
#include "aip_route.h"

static const struct {
    const char *path;
    aip_route_kind kind;
    aiproxy_proto proto;
    const char *variant;
    const char *method;
    aiproxy_operation operation; /* what a model request asks */
} fixed_routes[] = {
    {"/v1/messages", AIP_ROUTE_GENERATE, AIPROXY_PROTO_ANTHROPIC, NULL, "POST",
     AIPROXY_OP_GENERATE},
    {"/v1/messages/count_tokens", AIP_ROUTE_GENERATE, AIPROXY_PROTO_ANTHROPIC, NULL, "POST",
     AIPROXY_OP_COUNT_TOKENS},
    {"/v1/chat/completions", AIP_ROUTE_GENERATE, AIPROXY_PROTO_OPENAI, NULL, "POST",
     AIPROXY_OP_GENERATE},
    {"/v1/completions", AIP_ROUTE_GENERATE, AIPROXY_PROTO_OPENAI, NULL, "POST",
     AIPROXY_OP_COMPLETE},
    {"/v1/embeddings", AIP_ROUTE_GENERATE, AIPROXY_PROTO_OPENAI, NULL, "POST", AIPROXY_OP_EMBED},
    {"/v1/responses", AIP_ROUTE_GENERATE, AIPROXY_PROTO_RESPONSES, NULL, "POST",
     AIPROXY_OP_GENERATE},
    {"/v1/responses/compact", AIP_ROUTE_GENERATE, AIPROXY_PROTO_RESPONSES, "compact", "POST",
     AIPROXY_OP_GENERATE},
    {"/v1/models", AIP_ROUTE_MODELS, AIPROXY_PROTO_OPENAI, NULL, "GET", AIPROXY_OP_GENERATE},
    {"/v1beta/models", AIP_ROUTE_MODELS, AIPROXY_PROTO_GEMINI, NULL, "GET", AIPROXY_OP_GENERATE},
    {"/livez", AIP_ROUTE_LIVEZ, AIPROXY_PROTO_OPENAI, NULL, "GET", AIPROXY_OP_GENERATE},
    {"/readyz", AIP_ROUTE_READYZ, AIPROXY_PROTO_OPENAI, NULL, "GET", AIPROXY_OP_GENERATE},
    {"/v1/metrics/providers", AIP_ROUTE_PROVIDER_METRICS, AIPROXY_PROTO_OPENAI, NULL, "GET",
     AIPROXY_OP_GENERATE},
};

/* Gemini puts the model and the action in the last path segment: models/{model}:{action}. */
static const char *const gemini_model_prefixes[] = {"/v1beta/models/", "/v1/models/"};

static const struct {
    const char *action;
    int streams;
    aiproxy_operation operation;
    const char *variant; /* "batch": one vector per item of requests[] */
} gemini_actions[] = {
    {"generateContent", 0, AIPROXY_OP_GENERATE, NULL},
    {"streamGenerateContent", 1, AIPROXY_OP_GENERATE, NULL},
    {"embedContent", 0, AIPROXY_OP_EMBED, NULL},
    {"batchEmbedContents", 0, AIPROXY_OP_EMBED, "batch"},
    {"countTokens", 0, AIPROXY_OP_COUNT_TOKENS, NULL},
};

static int query_has_alt_sse(const char *query)
{
    const char *q = query;
    while (q && *q) {
        if (!strncmp(q, "alt=sse", 7) && (q[7] == '\0' || q[7] == '&'))
            return 1;
        q = strchr(q, '&');
        if (q)
            q++;
    }
    return 0;
}

/* Is the model part of a Gemini path (up to end) made of whole segments: a name may carry
 * '/' (an upstream prefix, "team/gemini-2.5-pro", or a vendor, "google/gemma-3"), but no
 * empty, "." or ".." segment. */
static int model_segments_ok(const char *model, const char *end)
{
    const char *seg = model;

    while (seg < end) {
        const char *slash = memchr(seg, '/', (size_t) (end - seg));
        size_t n = (size_t) ((slash ? slash : end) - seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (!slash)
            return 1;
        if (slash + 1 == end)
            return 0;
        seg = slash + 1;
    }
    return 0;
}

static aip_route_result match_gemini(apr_pool_t *p, const char *rest, const char *query,
                                     aip_route *out)
{
    const char *colon = strrchr(rest, ':');

    if (!colon || colon == rest || strchr(colon, '/') || !model_segments_ok(rest, colon))
        return AIP_ROUTE_UNKNOWN;
    for (size_t i = 0; i < sizeof(gemini_actions) / sizeof(gemini_actions[0]); i++) {
        if (strcmp(colon + 1, gemini_actions[i].action))
            continue;
        out->kind = AIP_ROUTE_GENERATE;
        out->proto = AIPROXY_PROTO_GEMINI;
        out->method = "POST";
        out->info.model = apr_pstrmemdup(p, rest, colon - rest);
        out->info.operation = gemini_actions[i].operation;
        out->info.variant = gemini_actions[i].variant;
        out->info.stream = !gemini_actions[i].streams ? AIPROXY_STREAM_NONE
                           : query_has_alt_sse(query) ? AIPROXY_STREAM_SSE
                                                      : AIPROXY_STREAM_JSON_ARRAY;
        return AIP_ROUTE_MATCHED;
    }
    return AIP_ROUTE_UNKNOWN;
}

aip_route_result aip_route_match(apr_pool_t *p, const char *path, const char *query, aip_route *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(fixed_routes) / sizeof(fixed_routes[0]); i++) {
        if (!strcmp(path, fixed_routes[i].path)) {
            out->kind = fixed_routes[i].kind;
            out->proto = fixed_routes[i].proto;
            out->method = fixed_routes[i].method;
            out->info.variant = fixed_routes[i].variant;
            out->info.operation = fixed_routes[i].operation;
            return AIP_ROUTE_MATCHED;
        }
    }
    if ((out->forward = aip_forward_route_for(path)) != NULL) {
        out->kind = AIP_ROUTE_FORWARD;
        out->proto = AIPROXY_PROTO_OPENAI;
        out->method = "POST";
        out->info.operation = AIPROXY_OP_FORWARD;
        return AIP_ROUTE_MATCHED;
    }
    if (aip_passthrough_split(p, path, &out->upstream, &out->rest) == 0) {
        out->kind = AIP_ROUTE_PASSTHROUGH;
        out->proto = AIPROXY_PROTO_OPENAI;
        return AIP_ROUTE_MATCHED;
    }
    for (size_t i = 0; i < sizeof(gemini_model_prefixes) / sizeof(gemini_model_prefixes[0]); i++) {
        size_t n = strlen(gemini_model_prefixes[i]);
        if (!strncmp(path, gemini_model_prefixes[i], n))
            return match_gemini(p, path + n, query, out);
    }
    return AIP_ROUTE_UNKNOWN;
}

aip_route_result aip_route_find(apr_pool_t *p, const char *path, const char *query, aip_route *out,
                                const char **route_path)
{
    /* Each try fails at its first differing character, so the whole search stays linear in
     * the length of the path times the few routes. */
    for (const char *at = strchr(path, '/'); at; at = strchr(at + 1, '/')) {
        if (aip_route_match(p, at, query, out) == AIP_ROUTE_MATCHED) {
            if (route_path)
                *route_path = at;
            return AIP_ROUTE_MATCHED;
        }
    }
    memset(out, 0, sizeof(*out));
    if (route_path)
        *route_path = NULL;
    return AIP_ROUTE_UNKNOWN;
}

aiproxy_proto aip_route_guess_proto(const char *path, const aip_client_hints *hints)
{
    /* Anywhere in the path: the handler may be mounted below a prefix. */
    if (strstr(path, "/v1beta/") || hints->goog_api_key)
        return AIPROXY_PROTO_GEMINI;
    if (strstr(path, "/v1/messages") || hints->anthropic_version)
        return AIPROXY_PROTO_ANTHROPIC;
    if (strstr(path, "/v1/responses"))
        return AIPROXY_PROTO_RESPONSES;
    return AIPROXY_PROTO_OPENAI;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Is the parameter name name[0..n) "key" once %xx and '+' are decoded? */
static int name_is_key(const char *name, apr_size_t n)
{
    char decoded[4];
    apr_size_t d = 0;

    for (apr_size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '%' && i + 2 < n && hex_value(name[i + 1]) >= 0 && hex_value(name[i + 2]) >= 0) {
            c = (char) (hex_value(name[i + 1]) * 16 + hex_value(name[i + 2]));
            i += 2;
        } else if (c == '+')
            c = ' ';
        if (d == 3)
            return 0;
        decoded[d++] = c;
    }
    return d == 3 && !memcmp(decoded, "key", 3);
}

/* query with each "key" parameter's value replaced by replacement, or (NULL) the parameter
 * left out; *found says whether there was one. */
static char *rewrite_key_params(apr_pool_t *p, const char *query, const char *replacement,
                                int *found)
{
    apr_size_t extra = replacement ? strlen(replacement) : 0;
    /* each "key=" (4 bytes at least) grows by at most the replacement */
    char *out = apr_palloc(p, strlen(query) + extra * (strlen(query) / 4 + 1) + 1);
    apr_size_t o = 0;

    *found = 0;
    for (const char *param = query; param;) {
        const char *amp = strchr(param, '&');
        apr_size_t len = amp ? (apr_size_t) (amp - param) : strlen(param);
        const char *eq = memchr(param, '=', len);
        int is_key = eq && name_is_key(param, (apr_size_t) (eq - param));

        *found |= is_key;
        if (is_key && !replacement) {
            param = amp ? amp + 1 : NULL;
            continue;
        }
        if (o && out[o - 1] != '&')
            out[o++] = '&';
        if (is_key) {
            memcpy(out + o, param, (apr_size_t) (eq - param) + 1);
            o += (apr_size_t) (eq - param) + 1;
            memcpy(out + o, replacement, extra);
            o += extra;
        } else {
            memcpy(out + o, param, len);
            o += len;
        }
        if (amp && replacement)
            out[o++] = '&';
        param = amp ? amp + 1 : NULL;
    }
    out[o] = '\0';
    return out;
}

const char *aip_route_redact_key(apr_pool_t *p, const char *query)
{
    int found;
    const char *out = rewrite_key_params(p, query, "REDACTED", &found);
    return found ? out : NULL;
}

const char *aip_route_without_key(apr_pool_t *p, const char *query)
{
    int found;
    const char *out = query ? rewrite_key_params(p, query, NULL, &found) : NULL;
    return out && *out ? out : NULL;
}
