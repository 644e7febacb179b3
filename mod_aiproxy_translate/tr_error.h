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

#endif /* TR_ERROR_H */
