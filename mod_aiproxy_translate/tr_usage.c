/* tr_usage.c: see tr_usage.h. */
#include "json/tr_jv.h"
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
static void read_count(const tr_jv *obj, const char *key, long long *value, int *has)
{
    long long v;
    if (tr_jv_get_int(obj, key, &v) && v >= 0) {
        *value = v;
        *has = 1;
    }
}

static long long non_negative(long long v)
{
    return v < 0 ? 0 : v;
}

/* ---- Anthropic ---- */

void tr_usage_read_anthropic_raw(const tr_jv *usage, tr_usage *raw)
{
    if (!tr_jv_is_object(usage))
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

tr_jv *tr_usage_to_anthropic(apr_pool_t *p, const tr_usage *u)
{
    return tr_jv_pack(p, "{s:I, s:I, s:I, s:I}", "input_tokens",
                      (long long) non_negative(u->input - u->cache_read - u->cache_write),
                      "cache_creation_input_tokens", (long long) u->cache_write,
                      "cache_read_input_tokens", (long long) u->cache_read, "output_tokens",
                      (long long) u->output);
}

/* ---- OpenAI Chat Completions ---- */

void tr_usage_read_openai(const tr_jv *usage, tr_usage *out)
{
    if (!tr_jv_is_object(usage))
        return;
    read_count(usage, "prompt_tokens", &out->input, &out->has_input);
    read_count(usage, "completion_tokens", &out->output, &out->has_output);
    read_count(tr_jv_get_object(usage, "prompt_tokens_details"), "cached_tokens", &out->cache_read,
               &out->has_cache_read);
    /* DeepSeek reports its cache hits at the top level. */
    read_count(usage, "prompt_cache_hit_tokens", &out->cache_read, &out->has_cache_read);
    read_count(tr_jv_get_object(usage, "completion_tokens_details"), "reasoning_tokens",
               &out->reasoning, &out->has_reasoning);
}

tr_jv *tr_usage_to_openai(apr_pool_t *p, const tr_usage *u)
{
    return tr_jv_pack(p, "{s:I, s:I, s:I, s:{s:I}, s:{s:I}}", "prompt_tokens", (long long) u->input,
                      "completion_tokens", (long long) u->output, "total_tokens",
                      (long long) (u->input + u->output), "prompt_tokens_details", "cached_tokens",
                      (long long) u->cache_read, "completion_tokens_details", "reasoning_tokens",
                      (long long) u->reasoning);
}

/* ---- OpenAI Responses ---- */

void tr_usage_read_responses(const tr_jv *usage, tr_usage *out)
{
    if (!tr_jv_is_object(usage))
        return;
    read_count(usage, "input_tokens", &out->input, &out->has_input);
    read_count(usage, "output_tokens", &out->output, &out->has_output);
    read_count(tr_jv_get_object(usage, "input_tokens_details"), "cached_tokens", &out->cache_read,
               &out->has_cache_read);
    read_count(tr_jv_get_object(usage, "output_tokens_details"), "reasoning_tokens",
               &out->reasoning, &out->has_reasoning);
}

tr_jv *tr_usage_to_responses(apr_pool_t *p, const tr_usage *u)
{
    return tr_jv_pack(p, "{s:I, s:{s:I}, s:I, s:{s:I}, s:I}", "input_tokens", (long long) u->input,
                      "input_tokens_details", "cached_tokens", (long long) u->cache_read,
                      "output_tokens", (long long) u->output, "output_tokens_details",
                      "reasoning_tokens", (long long) u->reasoning, "total_tokens",
                      (long long) (u->input + u->output));
}

/* ---- Gemini ---- */

void tr_usage_read_gemini(const tr_jv *meta, tr_usage *out)
{
    long long candidates = 0, thoughts = 0;
    int has_candidates = 0, has_thoughts = 0;

    if (!tr_jv_is_object(meta))
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

tr_jv *tr_usage_to_gemini(apr_pool_t *p, const tr_usage *u)
{
    tr_jv *meta =
        tr_jv_pack(p, "{s:I, s:I, s:I}", "promptTokenCount", (long long) u->input,
                   "candidatesTokenCount", (long long) non_negative(u->output - u->reasoning),
                   "totalTokenCount", (long long) (u->input + u->output));
    if (u->cache_read)
        tr_jv_set_int(meta, "cachedContentTokenCount", u->cache_read);
    if (u->reasoning)
        tr_jv_set_int(meta, "thoughtsTokenCount", u->reasoning);
    return meta;
}
