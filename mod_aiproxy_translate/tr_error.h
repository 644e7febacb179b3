/*
 * tr_error.h: one table of HTTP status -> each protocol's error vocabulary.
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

/* The row for status (nearest class row for statuses not in the table). */
const tr_error_words *tr_error_words_for(int status);
/* The words for err: the row of its code when the code is a known one, else its status row.
 * OpenAI's error.code is err->code whenever one is given (tr_error_openai_code). */
const tr_error_words *tr_error_words_of(const aiproxy_error *err);
const char *tr_error_openai_code(const aiproxy_error *err);

#endif /* TR_ERROR_H */
