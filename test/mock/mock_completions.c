/* OpenAI legacy text completions: POST .../completions (not .../chat/completions). The prompt
 * is a string or an array of strings, one choice each; the reply is a text_completion object, or
 * text_completion chunks ending in data: [DONE]. Each choice's text is the echo of its prompt as
 * the chat endpoint would write it (mock_plan.c), markers read from the first prompt. */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define SALT_COMPLETION 14

/* The prompts: a string, or the strings of an array (token arrays count as no prompt). */
static apr_array_header_t *prompts(apr_pool_t *p, const json_t *prompt)
{
    apr_array_header_t *out = apr_array_make(p, 2, sizeof(const char *));
    const json_t *item;
    size_t i;

    if (json_is_string(prompt)) {
        APR_ARRAY_PUSH(out, const char *) = json_string_value(prompt);
    }
    json_array_foreach(prompt, i, item)
    {
        if (json_is_string(item)) {
            APR_ARRAY_PUSH(out, const char *) = json_string_value(item);
        }
    }
    return out;
}

void mock_completions_parse(mock_call *c)
{
    apr_array_header_t *all = prompts(c->pool, json_object_get(c->body, "prompt"));
    const char *model = mock_json_str(c->body, "model");

    c->model = model ? model : "";
    c->stream = json_is_true(json_object_get(c->body, "stream"));
    c->include_usage =
        json_is_true(json_object_get(json_object_get(c->body, "stream_options"), "include_usage"));
    c->user_text = all->nelts ? APR_ARRAY_IDX(all, 0, const char *) : "";
    c->user_text_len = strlen(c->user_text);
    c->tool_name = NULL;
}

/* The plan of prompt i: the call's scenario with that prompt's echo. */
static void plan_for(const mock_call *c, const char *prompt, mock_plan *plan)
{
    mock_call one = *c;
    one.user_text = prompt;
    one.user_text_len = strlen(prompt);
    mock_plan_build(&one, plan);
}

static json_t *usage_object(apr_int64_t input, apr_int64_t output)
{
    return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t) input, "completion_tokens",
                     (json_int_t) output, "total_tokens", (json_int_t) (input + output));
}

static json_t *completion_head(const mock_call *c, const char *id)
{
    return json_pack("{s:s,s:s,s:I,s:s}", "id", id, "object", "text_completion", "created",
                     (json_int_t) apr_time_sec(c->now), "model", c->model);
}

static json_t *choice(int index, const char *text, apr_size_t len, const char *finish)
{
    return json_pack("{s:s%,s:i,s:n,s:o}", "text", text, len, "index", index, "logprobs",
                     "finish_reason", finish ? json_string(finish) : json_null());
}

static void reply_json(const mock_call *c, const apr_array_header_t *all, const char *id,
                       mock_reply *out)
{
    json_t *body = completion_head(c, id), *choices = json_array();
    apr_int64_t input = (apr_int64_t) (c->body_len / 4), output = 0;

    for (int i = 0; i < all->nelts; i++) {
        mock_plan plan;
        plan_for(c, APR_ARRAY_IDX(all, i, const char *), &plan);
        json_array_append_new(choices, choice(i, plan.text_full, plan.text_full_len, "stop"));
        output += plan.output_tokens;
    }
    json_object_set_new(body, "choices", choices);
    json_object_set_new(body, "usage", usage_object(input, output));
    mock_reply_body(out, 200, body);
}

static void chunk(const mock_call *c, const char *id, mock_reply *out, json_t *choices)
{
    json_t *obj = completion_head(c, id);
    json_object_set_new(obj, "choices", choices);
    mock_reply_sse(out, NULL, obj);
}

static void reply_stream(const mock_call *c, const apr_array_header_t *all, const char *id,
                         mock_reply *out)
{
    static const char done[] = "data: [DONE]\n\n";
    apr_int64_t output = 0;

    mock_reply_stream(out, "text/event-stream; charset=utf-8");
    for (int i = 0; i < all->nelts; i++) {
        mock_plan plan;
        plan_for(c, APR_ARRAY_IDX(all, i, const char *), &plan);
        for (int k = 0; k < plan.text->nelts; k++) {
            const mock_piece *piece = &APR_ARRAY_IDX(plan.text, k, mock_piece);
            chunk(c, id, out, json_pack("[o]", choice(i, piece->s, piece->len, NULL)));
        }
        chunk(c, id, out, json_pack("[o]", choice(i, "", 0, "stop")));
        output += plan.output_tokens;
    }
    if (c->include_usage) {
        json_t *obj = completion_head(c, id);
        json_object_set_new(obj, "choices", json_array());
        json_object_set_new(obj, "usage", usage_object((apr_int64_t) (c->body_len / 4), output));
        mock_reply_sse(out, NULL, obj);
    }
    mock_reply_raw(out, done, sizeof(done) - 1);
}

void mock_completions_reply(const mock_call *c, mock_reply *out)
{
    apr_array_header_t *all = prompts(c->pool, json_object_get(c->body, "prompt"));
    const char *id = mock_id(c->pool, "cmpl-", c->seed, SALT_COMPLETION, 29);

    if (all->nelts == 0) {
        mock_reply_body(out, 400,
                        mock_openai_error_json(400, "mock: 'prompt' must be a string or an "
                                                    "array of strings"));
    } else if (c->stream) {
        reply_stream(c, all, id, out);
    } else {
        reply_json(c, all, id, out);
    }
}
