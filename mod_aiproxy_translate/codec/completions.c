/*
 * codec/completions.c: OpenAI's legacy text completions (POST /v1/completions) as a codec of
 * the OpenAI protocol for AIPROXY_OP_COMPLETE: request peek and endpoint, and the request
 * decode, which reads the prompt as one user turn (completions_response.c: the answers).
 *
 * OpenAI upstreams serve the route themselves (the client's body passes through with only the
 * model changed); every other protocol gets a generation decoded from the prompt. A completion
 * body differs from a chat body only in its prompt and in options a chat has no room for, so
 * it is decoded by building the chat body it means and handing that to the chat decoder.
 */
#include <string.h>
#include "apr_strings.h"
#include "tr_error.h"
#include "json/tr_jv.h"
#include "codec/tr_peek.h"
#include "codec/tr_protocols.h"

/* max_tokens of a legacy completion that names none (OpenAI's API reference: "Defaults to
 * 16"). */
#define COMPLETIONS_DEFAULT_MAX_TOKENS 16

static int completions_request_peek(apr_pool_t *p, tr_request *req, const aiproxy_route_info *route,
                                    aiproxy_error *err)
{
    tr_jv *prompt = tr_jv_get(req->root, "prompt");

    if (tr_peek_model(req, err) || tr_peek_stream_flag(req, "stream", err))
        return err->status;
    req->include_usage =
        tr_jv_get_bool(tr_jv_get_object(req->root, "stream_options"), "include_usage", 0) == 1;
    if (!prompt)
        return tr_error_set(err, 400, "'prompt' is required");
    if (!tr_jv_is_string(prompt) && (!tr_jv_is_array(prompt) || tr_jv_size(prompt) == 0))
        return tr_error_set(err, 400, "'prompt' must be a string or a non-empty array");
    return 0;
}

/* The members a chat request reads the same way, carried over as they are. */
static const char *const chat_members[] = {
    "model", "max_tokens",       "temperature",       "top_p",
    "stop",  "stream",           "stream_options",    "seed",
    "user",  "presence_penalty", "frequency_penalty", NULL};

static int is_set(const tr_jv *v)
{
    return v && !tr_jv_is_null(v);
}
static int is_true(const tr_jv *v)
{
    return tr_jv_is_true(v);
}
static int is_text(const tr_jv *v)
{
    return tr_jv_is_string(v) && tr_jv_str_len(v) > 0;
}
static int above_one(const tr_jv *v)
{
    return tr_jv_is_number(v) && tr_jv_number_value(v) > 1;
}

/* Options only an OpenAI upstream can honour: refused rather than silently dropped. */
static const struct {
    const char *member;
    int (*asks_for_it)(const tr_jv *value);
} untranslatable[] = {
    {"echo", is_true},      {"suffix", is_text},  {"n", above_one},
    {"best_of", above_one}, {"logprobs", is_set}, {"logit_bias", is_set},
};

/* Whether prompt is made of token ids (an array of numbers, or of arrays of them). */
static int is_token_prompt(const tr_jv *prompt)
{
    tr_jv *first = tr_jv_is_array(prompt) ? tr_jv_at(prompt, 0) : NULL;
    return first && (tr_jv_is_number(first) || tr_jv_is_array(first));
}

/* The prompt's one text (a string, or an array holding one string), or 400: another protocol
 * has one conversation per request, where OpenAI answers a choice per prompt. */
static int single_prompt(const tr_jv *prompt, const char **text, aiproxy_error *err)
{
    if (is_token_prompt(prompt))
        return tr_error_set(err, 400,
                            "a 'prompt' of token ids can only be completed by an OpenAI upstream: "
                            "send the prompt as text");
    if (tr_jv_is_array(prompt) && tr_jv_size(prompt) == 1)
        prompt = tr_jv_at(prompt, 0);
    if (!tr_jv_is_string(prompt))
        return tr_error_set(err, 400,
                            "several prompts in one request can only be completed by an OpenAI "
                            "upstream: send one prompt as a string");
    *text = tr_jv_str_value(prompt);
    return 0;
}

int tr_completions_request_decode(apr_pool_t *p, tr_request *req, aiproxy_error *err)
{
    tr_jv *root = req->root, *chat = tr_jv_object(p);
    const char *prompt = NULL;
    int rc;

    if (single_prompt(tr_jv_get(root, "prompt"), &prompt, err))
        return err->status;
    for (size_t i = 0; i < sizeof(untranslatable) / sizeof(untranslatable[0]); i++) {
        if (untranslatable[i].asks_for_it(tr_jv_get(root, untranslatable[i].member)))
            return tr_error_set(err, 400,
                                apr_psprintf(p, "'%s' can only be honoured by an OpenAI upstream",
                                             untranslatable[i].member));
    }
    for (const char *const *m = chat_members; *m; m++) {
        tr_jv *v = tr_jv_get(root, *m);
        if (v)
            tr_jv_set(chat, *m, v);
    }
    /* The legacy API's own default, so another protocol answers as long as OpenAI would. */
    if (!is_set(tr_jv_get(chat, "max_tokens")))
        tr_jv_set_int(chat, "max_tokens", COMPLETIONS_DEFAULT_MAX_TOKENS);
    tr_jv_set(chat, "messages", tr_jv_pack(p, "[{s:s, s:s}]", "role", "user", "content", prompt));
    /* The chat decoder reads req->root; the client's body stays the root for passthrough. */
    req->root = chat;
    rc = tr_openai_request_decode(p, req, err);
    req->root = root;
    return rc;
}

/* Only an OpenAI upstream gets a completion body, and it gets the client's own. */
int tr_completions_request_encode(apr_pool_t *p, const tr_request *req,
                                  const aiproxy_target *target, tr_jv **body, aiproxy_error *err)
{
    return tr_error_set(err, 501,
                        "a legacy completion is sent upstream only as the client wrote it");
}

static void completions_request_path(apr_pool_t *p, const aiproxy_target *target,
                                     const char *variant, const char **path, const char **query)
{
    *path = "/v1/completions";
    *query = NULL;
}

tr_jv *tr_openai_error_envelope(apr_pool_t *p, const aiproxy_error *err);
const char *tr_openai_error_message(apr_pool_t *p, tr_jv *body);

const tr_codec tr_completions_codec = {
    .proto = AIPROXY_PROTO_OPENAI,
    .request_peek = completions_request_peek,
    .request_set_model = tr_peek_set_body_model,
    .request_path = completions_request_path,
    .count_via = AIPROXY_PROTO_RESPONSES,
    .error_encode = tr_openai_error_envelope,
    .error_decode = tr_openai_error_message,
    TR_CODEC_TRANSLATION_ENTRIES(completions),
};
