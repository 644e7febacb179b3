/* What a reply says, before any wire format: thinking, text and tool call, each already cut into
 * the deltas a stream sends, and the token counts (deterministic: input = body bytes / 4, output =
 * one token per delta). */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define ECHO_PREFIX    "echo: "
#define THINKING_CUT   5 /* "mock " | "thinking" */
#define TOOL_ARGS_CUT  7 /* {"arg": | "mock"} */
#define FILLER         " mock"
#define DEFAULT_PIECES 3

static const char thinking_text[] = "mock thinking";
static const char tool_args[] = "{\"arg\":\"mock\"}";

static void push_piece(apr_array_header_t *arr, const char *s, apr_size_t len)
{
    mock_piece *piece;
    if (len == 0) {
        return;
    }
    piece = apr_array_push(arr);
    piece->s = s;
    piece->len = len;
}

/* Cut s into at most n non-empty pieces of similar size, never inside a UTF-8 sequence. */
static void split_text(apr_array_header_t *arr, const char *s, apr_size_t len, int n)
{
    apr_size_t start = 0;
    for (int i = 1; i <= n && start < len; i++) {
        apr_size_t end = (i == n) ? len : len * (apr_size_t) i / (apr_size_t) n;
        while (end < len && ((unsigned char) s[end] & 0xc0) == 0x80) {
            end++;
        }
        if (end > start) {
            push_piece(arr, s + start, end - start);
            start = end;
        }
    }
}

void mock_plan_build(const mock_call *c, mock_plan *p)
{
    apr_pool_t *pool = c->pool;
    int want_text = !(c->sc.tool && c->tool_name) || c->sc.long_n > 0;

    memset(p, 0, sizeof(*p));
    p->thinking = apr_array_make(pool, 2, sizeof(mock_piece));
    p->text = apr_array_make(pool, DEFAULT_PIECES, sizeof(mock_piece));
    p->tool_args = apr_array_make(pool, 2, sizeof(mock_piece));

    if (c->sc.think) {
        p->thinking_full = thinking_text;
        push_piece(p->thinking, thinking_text, THINKING_CUT);
        push_piece(p->thinking, &thinking_text[THINKING_CUT],
                   sizeof(thinking_text) - 1 - THINKING_CUT);
    }

    if (want_text) {
        apr_int64_t total = c->sc.long_n > 0 ? c->sc.long_n : DEFAULT_PIECES;
        int echo_pieces = total < DEFAULT_PIECES ? (int) total : DEFAULT_PIECES;
        apr_size_t echo_len = sizeof(ECHO_PREFIX) - 1 + c->user_text_len;
        apr_size_t filler = (apr_size_t) (total - echo_pieces);
        apr_size_t full_len = echo_len + filler * (sizeof(FILLER) - 1);
        char *full = apr_palloc(pool, full_len + 1);
        char *at;

        memcpy(full, ECHO_PREFIX, sizeof(ECHO_PREFIX) - 1);
        memcpy(full + sizeof(ECHO_PREFIX) - 1, c->user_text, c->user_text_len);
        at = full + echo_len;
        for (apr_size_t i = 0; i < filler; i++) {
            memcpy(at, FILLER, sizeof(FILLER) - 1);
            at += sizeof(FILLER) - 1;
        }
        full[full_len] = '\0';
        split_text(p->text, full, echo_len, echo_pieces);
        for (apr_size_t i = 0; i < filler; i++) {
            push_piece(p->text, full + echo_len + i * (sizeof(FILLER) - 1), sizeof(FILLER) - 1);
        }
        p->text_full = full;
        p->text_full_len = full_len;
    }

    if (c->sc.tool && c->tool_name) {
        p->tool_name = c->tool_name;
        p->tool_args_full = tool_args;
        push_piece(p->tool_args, tool_args, TOOL_ARGS_CUT);
        push_piece(p->tool_args, &tool_args[TOOL_ARGS_CUT], sizeof(tool_args) - 1 - TOOL_ARGS_CUT);
    }

    p->input_tokens = (apr_int64_t) (c->body_len / 4);
    p->reasoning_tokens = p->thinking->nelts;
    p->output_tokens = p->thinking->nelts + p->text->nelts + p->tool_args->nelts;
}
