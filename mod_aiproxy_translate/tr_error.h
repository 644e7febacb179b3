/*
 * tr_error.h: the core's failures: the one setter that describes them in an aiproxy_error, and
 * one table of HTTP status -> each protocol's error vocabulary.
 */
#ifndef TR_ERROR_H
#define TR_ERROR_H

#include "aiproxy_translate.h"

typedef struct {
    int status;
    const char *anthropic_type; /* Anthropic error.type */
    const char *openai_type;    /* OpenAI error.type */
    const char *openai_code;    /* OpenAI error.code, or NULL */
    const char *google_status;  /* Gemini error.status (google.rpc.Code name) */
} tr_error_words;

/* The one way the core describes a failure: *err gets status, that status's category word
 * (err->type: invalid_request_error, api_error ...), message (kept, not copied: a literal or a
 * string of a pool that outlives err) and no code. Returns status, so a failing function can
 * end with `return tr_error_set(...)`. */
int tr_error_set(aiproxy_error *err, int status, const char *message);

/* The row for status (nearest class row for statuses not in the table). */
const tr_error_words *tr_error_words_for(int status);
/* The words for err: the row of its code when the code is a known one, else its status row.
 * OpenAI's error.code is err->code whenever one is given (tr_error_openai_code). */
const tr_error_words *tr_error_words_of(const aiproxy_error *err);
const char *tr_error_openai_code(const aiproxy_error *err);

#endif /* TR_ERROR_H */
