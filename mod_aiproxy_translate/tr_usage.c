/* tr_usage.c: see tr_usage.h. */
#include "tr_json.h"
#include "tr_usage.h"

void tr_usage_merge(tr_usage *into, const tr_usage *from)
{
    if (from->has_input)
        into->input = from->input, into->has_input = 1;
    if (from->has_output)
        into->output = from->output, into->has_output = 1;
    if (from->has_cache_read)
        into->cache_read = from->cache_read, into->has_cache_read = 1;
    if (from->has_cache_write)
        into->cache_write = from->cache_write, into->has_cache_write = 1;
    if (from->has_reasoning)
        into->reasoning = from->reasoning, into->has_reasoning = 1;
}

/* Read key into *value and set *has when the JSON holds a number there. */
static void read_count(const json_t *obj, const char *key, long long *value, int *has)
{
    long long v;
    if (tr_json_int(obj, key, &v) && v >= 0) {
        *value = v;
        *has = 1;
    }
}

static long long non_negative(long long v)
{
    return v < 0 ? 0 : v;
}

/* ---- Anthropic ---- */

void tr_usage_read_anthropic_raw(const json_t *usage, tr_usage *raw)
{
    if (!json_is_object(usage))
        return;
    read_count(usage, "input_tokens", &raw->input, &raw->has_input);
    read_count(usage, "output_tokens", &raw->output, &raw->has_output);
    read_count(usage, "cache_read_input_tokens", &raw->cache_read, &raw->has_cache_read);
    read_count(usage, "cache_creation_input_tokens", &raw->cache_write, &raw->has_cache_write);
}

tr_usage tr_usage_from_anthropic_raw(const tr_usage *raw)
{
    tr_usage u = *raw;
    if (raw->has_input)
        u.input = raw->input + raw->cache_read + raw->cache_write;
    return u;
}

json_t *tr_usage_to_anthropic(const tr_usage *u)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "input_tokens",
                     (json_int_t) non_negative(u->input - u->cache_read - u->cache_write),
                     "cache_creation_input_tokens", (json_int_t) u->cache_write,
                     "cache_read_input_tokens", (json_int_t) u->cache_read, "output_tokens",
                     (json_int_t) u->output);
}

/* ---- OpenAI Chat Completions ---- */

void tr_usage_read_openai(const json_t *usage, tr_usage *out)
{
    if (!json_is_object(usage))
        return;
    read_count(usage, "prompt_tokens", &out->input, &out->has_input);
    read_count(usage, "completion_tokens", &out->output, &out->has_output);
    read_count(tr_json_obj(usage, "prompt_tokens_details"), "cached_tokens", &out->cache_read,
               &out->has_cache_read);
    /* DeepSeek reports its cache hits at the top level. */
    read_count(usage, "prompt_cache_hit_tokens", &out->cache_read, &out->has_cache_read);
    read_count(tr_json_obj(usage, "completion_tokens_details"), "reasoning_tokens", &out->reasoning,
               &out->has_reasoning);
}

json_t *tr_usage_to_openai(const tr_usage *u)
{
    return json_pack("{s:I, s:I, s:I, s:{s:I}, s:{s:I}}", "prompt_tokens", (json_int_t) u->input,
                     "completion_tokens", (json_int_t) u->output, "total_tokens",
                     (json_int_t) (u->input + u->output), "prompt_tokens_details", "cached_tokens",
                     (json_int_t) u->cache_read, "completion_tokens_details", "reasoning_tokens",
                     (json_int_t) u->reasoning);
}

/* ---- OpenAI Responses ---- */

void tr_usage_read_responses(const json_t *usage, tr_usage *out)
{
    if (!json_is_object(usage))
        return;
    read_count(usage, "input_tokens", &out->input, &out->has_input);
    read_count(usage, "output_tokens", &out->output, &out->has_output);
    read_count(tr_json_obj(usage, "input_tokens_details"), "cached_tokens", &out->cache_read,
               &out->has_cache_read);
    read_count(tr_json_obj(usage, "output_tokens_details"), "reasoning_tokens", &out->reasoning,
               &out->has_reasoning);
}

json_t *tr_usage_to_responses(const tr_usage *u)
{
    return json_pack("{s:I, s:{s:I}, s:I, s:{s:I}, s:I}", "input_tokens", (json_int_t) u->input,
                     "input_tokens_details", "cached_tokens", (json_int_t) u->cache_read,
                     "output_tokens", (json_int_t) u->output, "output_tokens_details",
                     "reasoning_tokens", (json_int_t) u->reasoning, "total_tokens",
                     (json_int_t) (u->input + u->output));
}

/* ---- Gemini ---- */

void tr_usage_read_gemini(const json_t *meta, tr_usage *out)
{
    long long candidates = 0, thoughts = 0;
    int has_candidates = 0, has_thoughts = 0;

    if (!json_is_object(meta))
        return;
    read_count(meta, "promptTokenCount", &out->input, &out->has_input);
    read_count(meta, "cachedContentTokenCount", &out->cache_read, &out->has_cache_read);
    read_count(meta, "candidatesTokenCount", &candidates, &has_candidates);
    read_count(meta, "thoughtsTokenCount", &thoughts, &has_thoughts);
    /* Gemini counts thoughts apart from candidates; canonical output includes them. */
    if (has_candidates || has_thoughts) {
        out->output = candidates + thoughts;
        out->has_output = 1;
    }
    if (has_thoughts) {
        out->reasoning = thoughts;
        out->has_reasoning = 1;
    }
}

json_t *tr_usage_to_gemini(const tr_usage *u)
{
    json_t *meta =
        json_pack("{s:I, s:I, s:I}", "promptTokenCount", (json_int_t) u->input,
                  "candidatesTokenCount", (json_int_t) non_negative(u->output - u->reasoning),
                  "totalTokenCount", (json_int_t) (u->input + u->output));
    if (u->cache_read)
        json_object_set_new(meta, "cachedContentTokenCount", json_integer(u->cache_read));
    if (u->reasoning)
        json_object_set_new(meta, "thoughtsTokenCount", json_integer(u->reasoning));
    return meta;
}
