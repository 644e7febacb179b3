/* tr_stop.c: see tr_stop.h. */
#include <string.h>
#include "tr_stop.h"

/* Every word each protocol sends, decoded. */
static const struct {
    aiproxy_proto proto;
    const char *word;
    tr_stop stop;
} words_in[] = {
    {AIPROXY_PROTO_ANTHROPIC, "end_turn", TR_STOP_END_TURN},
    {AIPROXY_PROTO_ANTHROPIC, "max_tokens", TR_STOP_MAX_TOKENS},
    {AIPROXY_PROTO_ANTHROPIC, "stop_sequence", TR_STOP_STOP_SEQUENCE},
    {AIPROXY_PROTO_ANTHROPIC, "tool_use", TR_STOP_TOOL_USE},
    {AIPROXY_PROTO_ANTHROPIC, "pause_turn", TR_STOP_PAUSE_TURN},
    {AIPROXY_PROTO_ANTHROPIC, "refusal", TR_STOP_REFUSAL},
    {AIPROXY_PROTO_ANTHROPIC, "model_context_window_exceeded", TR_STOP_CONTEXT_EXCEEDED},

    {AIPROXY_PROTO_OPENAI, "stop", TR_STOP_END_TURN},
    {AIPROXY_PROTO_OPENAI, "length", TR_STOP_MAX_TOKENS},
    {AIPROXY_PROTO_OPENAI, "tool_calls", TR_STOP_TOOL_USE},
    {AIPROXY_PROTO_OPENAI, "function_call", TR_STOP_TOOL_USE},
    {AIPROXY_PROTO_OPENAI, "content_filter", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_OPENAI, "eos", TR_STOP_END_TURN}, /* some OpenAI-compatible servers */

    {AIPROXY_PROTO_RESPONSES, "completed", TR_STOP_END_TURN},
    {AIPROXY_PROTO_RESPONSES, "max_output_tokens", TR_STOP_MAX_TOKENS},
    {AIPROXY_PROTO_RESPONSES, "content_filter", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_RESPONSES, "failed", TR_STOP_ERROR},

    {AIPROXY_PROTO_GEMINI, "STOP", TR_STOP_END_TURN},
    {AIPROXY_PROTO_GEMINI, "MAX_TOKENS", TR_STOP_MAX_TOKENS},
    {AIPROXY_PROTO_GEMINI, "SAFETY", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "RECITATION", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "LANGUAGE", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "BLOCKLIST", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "PROHIBITED_CONTENT", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "SPII", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "IMAGE_SAFETY", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "IMAGE_PROHIBITED_CONTENT", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "IMAGE_RECITATION", TR_STOP_CONTENT_FILTER},
    {AIPROXY_PROTO_GEMINI, "MALFORMED_FUNCTION_CALL", TR_STOP_MALFORMED_CALL},
    {AIPROXY_PROTO_GEMINI, "UNEXPECTED_TOOL_CALL", TR_STOP_MALFORMED_CALL},
    {AIPROXY_PROTO_GEMINI, "TOO_MANY_TOOL_CALLS", TR_STOP_MALFORMED_CALL},
    {AIPROXY_PROTO_GEMINI, "OTHER", TR_STOP_OTHER},
    {AIPROXY_PROTO_GEMINI, "IMAGE_OTHER", TR_STOP_OTHER},
    {AIPROXY_PROTO_GEMINI, "NO_IMAGE", TR_STOP_OTHER},
    {AIPROXY_PROTO_GEMINI, "FINISH_REASON_UNSPECIFIED", TR_STOP_OTHER},
};

/* The word each protocol sends for each canonical reason (its nearest one when it has none). */
static const char *const words_out[AIPROXY_PROTO_COUNT][TR_STOP_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] =
        {
            [TR_STOP_NONE] = "end_turn",
            [TR_STOP_END_TURN] = "end_turn",
            [TR_STOP_MAX_TOKENS] = "max_tokens",
            [TR_STOP_STOP_SEQUENCE] = "stop_sequence",
            [TR_STOP_TOOL_USE] = "tool_use",
            [TR_STOP_PAUSE_TURN] = "pause_turn",
            [TR_STOP_REFUSAL] = "refusal",
            [TR_STOP_CONTENT_FILTER] = "refusal",
            [TR_STOP_CONTEXT_EXCEEDED] = "model_context_window_exceeded",
            [TR_STOP_MALFORMED_CALL] = "end_turn",
            [TR_STOP_ERROR] = "end_turn",
            [TR_STOP_OTHER] = "end_turn",
        },
    [AIPROXY_PROTO_OPENAI] =
        {
            [TR_STOP_NONE] = "stop",
            [TR_STOP_END_TURN] = "stop",
            [TR_STOP_MAX_TOKENS] = "length",
            [TR_STOP_STOP_SEQUENCE] = "stop",
            [TR_STOP_TOOL_USE] = "tool_calls",
            [TR_STOP_PAUSE_TURN] = "stop",
            [TR_STOP_REFUSAL] = "content_filter",
            [TR_STOP_CONTENT_FILTER] = "content_filter",
            [TR_STOP_CONTEXT_EXCEEDED] = "length",
            [TR_STOP_MALFORMED_CALL] = "stop",
            [TR_STOP_ERROR] = "stop",
            [TR_STOP_OTHER] = "stop",
        },
    [AIPROXY_PROTO_RESPONSES] =
        {
            [TR_STOP_NONE] = "completed",
            [TR_STOP_END_TURN] = "completed",
            [TR_STOP_MAX_TOKENS] = "max_output_tokens",
            [TR_STOP_STOP_SEQUENCE] = "completed",
            [TR_STOP_TOOL_USE] = "completed",
            [TR_STOP_PAUSE_TURN] = "completed",
            [TR_STOP_REFUSAL] = "content_filter",
            [TR_STOP_CONTENT_FILTER] = "content_filter",
            [TR_STOP_CONTEXT_EXCEEDED] = "max_output_tokens",
            [TR_STOP_MALFORMED_CALL] = "completed",
            [TR_STOP_ERROR] = "failed",
            [TR_STOP_OTHER] = "completed",
        },
    [AIPROXY_PROTO_GEMINI] =
        {
            [TR_STOP_NONE] = "STOP",
            [TR_STOP_END_TURN] = "STOP",
            [TR_STOP_MAX_TOKENS] = "MAX_TOKENS",
            [TR_STOP_STOP_SEQUENCE] = "STOP",
            [TR_STOP_TOOL_USE] = "STOP", /* Gemini ends a function-calling turn with STOP */
            [TR_STOP_PAUSE_TURN] = "STOP",
            [TR_STOP_REFUSAL] = "SAFETY",
            [TR_STOP_CONTENT_FILTER] = "SAFETY",
            [TR_STOP_CONTEXT_EXCEEDED] = "MAX_TOKENS",
            [TR_STOP_MALFORMED_CALL] = "MALFORMED_FUNCTION_CALL",
            [TR_STOP_ERROR] = "OTHER",
            [TR_STOP_OTHER] = "OTHER",
        },
};

tr_stop tr_stop_from_word(aiproxy_proto proto, const char *word)
{
    if (!word)
        return TR_STOP_NONE;
    for (size_t i = 0; i < sizeof(words_in) / sizeof(words_in[0]); i++) {
        if (words_in[i].proto == proto && !strcmp(words_in[i].word, word))
            return words_in[i].stop;
    }
    return TR_STOP_OTHER;
}

const char *tr_stop_to_word(aiproxy_proto proto, tr_stop stop)
{
    if ((unsigned) proto >= AIPROXY_PROTO_COUNT)
        proto = AIPROXY_PROTO_OPENAI;
    if ((unsigned) stop >= TR_STOP_COUNT)
        stop = TR_STOP_OTHER;
    return words_out[proto][stop];
}

const char *tr_stop_word_for(const aiproxy_response_spec *spec, tr_stop stop, const char *raw)
{
    if (spec->client == spec->upstream && spec->client != AIPROXY_PROTO_RESPONSES && raw && *raw)
        return raw;
    return tr_stop_to_word(spec->client, stop);
}

tr_stop tr_stop_after_tool_calls(tr_stop stop, int saw_tool_call)
{
    return saw_tool_call && (stop == TR_STOP_END_TURN || stop == TR_STOP_NONE) ? TR_STOP_TOOL_USE
                                                                               : stop;
}

int tr_stop_is_incomplete(tr_stop stop)
{
    const char *word = tr_stop_to_word(AIPROXY_PROTO_RESPONSES, stop);
    return strcmp(word, "completed") != 0 && strcmp(word, "failed") != 0;
}
