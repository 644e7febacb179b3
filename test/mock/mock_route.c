/* Which endpoint a request is for: the path is matched on its end, so a base URL may carry a
 * prefix (/openai/v1/chat/completions). */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

static int ends_with(const char *s, apr_size_t len, const char *suffix)
{
    apr_size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* gemini: ".../models/{model}:{action}" */
static int match_gemini(apr_pool_t *p, const char *path, apr_size_t len, mock_route *out)
{
    static const struct {
        const char *action;
        mock_endpoint ep;
        int stream;
        int batch;
    } actions[] = {
        {":generateContent", MOCK_EP_GENERATE, 0, 0},
        {":streamGenerateContent", MOCK_EP_GENERATE, 1, 0},
        {":countTokens", MOCK_EP_COUNT_TOKENS, 0, 0},
        {":embedContent", MOCK_EP_EMBED, 0, 0},
        {":batchEmbedContents", MOCK_EP_EMBED, 0, 1},
    };
    for (apr_size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        if (!ends_with(path, len, actions[i].action)) {
            continue;
        }
        apr_size_t colon = len - strlen(actions[i].action);
        apr_size_t start = colon;
        while (start > 0 && path[start - 1] != '/') {
            start--;
        }
        out->proto = MOCK_GEMINI;
        out->ep = actions[i].ep;
        out->path_stream = actions[i].stream;
        out->gemini_batch = actions[i].batch;
        out->path_model = apr_pstrmemdup(p, path + start, colon - start);
        /* Code Assist: the model is in the body, the path ends in v1internal:<action> */
        if (strcmp(out->path_model, "v1internal") == 0) {
            out->code_assist = 1;
            out->path_model = NULL;
        }
        return 1;
    }
    return 0;
}

void mock_route_match(apr_pool_t *p, const char *method, const char *path, const char *query,
                      int oauth, mock_route *out)
{
    static const struct {
        const char *suffix;
        mock_proto proto;
        mock_endpoint ep;
    } posts[] = {
        {"/messages/count_tokens", MOCK_ANTHROPIC, MOCK_EP_COUNT_TOKENS},
        {"/messages", MOCK_ANTHROPIC, MOCK_EP_GENERATE},
        {"/chat/completions", MOCK_OPENAI, MOCK_EP_GENERATE},
        {"/completions", MOCK_OPENAI, MOCK_EP_COMPLETIONS},
        {"/embeddings", MOCK_OPENAI, MOCK_EP_EMBED},
        {"/responses/compact", MOCK_RESPONSES, MOCK_EP_COMPACT},
        {"/responses/input_tokens", MOCK_RESPONSES, MOCK_EP_COUNT_TOKENS},
        {"/responses", MOCK_RESPONSES, MOCK_EP_GENERATE},
        {"/generateAssistantResponse", MOCK_KIRO, MOCK_EP_GENERATE},
        {"/images/generations", MOCK_OPENAI, MOCK_EP_IMAGES},
        {"/images/edits", MOCK_OPENAI, MOCK_EP_IMAGE_EDITS},
        {"/audio/speech", MOCK_OPENAI, MOCK_EP_SPEECH},
        {"/audio/transcriptions", MOCK_OPENAI, MOCK_EP_TRANSCRIBE},
        {"/audio/translations", MOCK_OPENAI, MOCK_EP_TRANSCRIBE},
        {"/rerank", MOCK_OPENAI, MOCK_EP_RERANK},
        {"/v1internal:loadCodeAssist", MOCK_GEMINI, MOCK_EP_LOAD_CODE_ASSIST},
        {"/v1internal:onboardUser", MOCK_GEMINI, MOCK_EP_ONBOARD_USER},
    };
    apr_size_t len = strlen(path);

    memset(out, 0, sizeof(*out));
    out->ep = MOCK_EP_NONE;
    if (strcmp(method, "GET") == 0) {
        if (ends_with(path, len, "/models")) {
            out->proto = MOCK_OPENAI;
            out->ep = MOCK_EP_MODELS;
        }
        return;
    }
    if (strcmp(method, "POST") != 0) {
        return;
    }
    if (oauth && (ends_with(path, len, "/token") || ends_with(path, len, "/refreshToken"))) {
        out->ep = MOCK_EP_TOKEN; /* codex .../oauth/token, claude .../v1/oauth/token, google */
        return;
    }
    for (apr_size_t i = 0; i < sizeof(posts) / sizeof(posts[0]); i++) {
        if (ends_with(path, len, posts[i].suffix)) {
            out->proto = posts[i].proto;
            out->ep = posts[i].ep;
            return;
        }
    }
    if (match_gemini(p, path, len, out)) {
        const char *alt = mock_query_param(p, query, "alt");
        out->gemini_sse = alt && strcmp(alt, "sse") == 0;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static char *percent_decode(apr_pool_t *p, const char *s, apr_size_t len)
{
    char *out = apr_palloc(p, len + 1);
    apr_size_t o = 0;
    for (apr_size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
                   (lo = hex_value(s[i + 2])) >= 0) {
            out[o++] = (char) (hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

const char *mock_query_param(apr_pool_t *p, const char *query, const char *name)
{
    apr_size_t nlen = strlen(name);
    const char *s = query;
    while (s && *s) {
        const char *end = strchr(s, '&');
        apr_size_t len = end ? (apr_size_t) (end - s) : strlen(s);
        if (len >= nlen && memcmp(s, name, nlen) == 0 && (len == nlen || s[nlen] == '=')) {
            if (len == nlen) {
                return "";
            }
            return percent_decode(p, s + nlen + 1, len - nlen - 1);
        }
        s = end ? end + 1 : NULL;
    }
    return NULL;
}

const mock_provider *mock_provider_for(mock_proto proto)
{
    switch (proto) {
    case MOCK_ANTHROPIC:
        return &mock_anthropic_provider;
    case MOCK_OPENAI:
        return &mock_openai_provider;
    case MOCK_RESPONSES:
        return &mock_responses_provider;
    case MOCK_GEMINI:
        return &mock_gemini_provider;
    case MOCK_KIRO:
        return &mock_kiro_provider;
    }
    return &mock_openai_provider;
}

void mock_not_found_reply(apr_pool_t *p, mock_reply *out, const char *method, const char *path)
{
    json_t *err = json_object();
    json_t *body = json_object();
    const char *msg = apr_psprintf(p, "mock: no endpoint for %s %s", method, path);
    json_object_set_new(err, "message", mock_json_string(msg, strlen(msg)));
    json_object_set_new(err, "type", json_string("not_found_error"));
    json_object_set_new(err, "code", json_integer(404));
    json_object_set_new(body, "error", err);
    mock_reply_body(out, 404, body);
}
