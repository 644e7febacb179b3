/*
 * codec/kiro_text_calls.h: tool calls a model wrote into its answer text, found while the text
 * streams.
 *
 * Kiro sometimes writes a call into the assistant text instead of sending a toolUseEvent:
 *
 *     [Called get_weather with args: {"city": "Paris"}]
 *
 * (research/oauth.md §5 "Events"; AIClient-2-API and CLIProxyAPIPlus parse these out too). The
 * scanner reads the text piece by piece as it arrives and hands on, in order, runs of plain
 * text and whole calls. Text goes on at once except what may still be the start of a call: a
 * '[' and what follows it while it matches the form, held back only until it is decided. A
 * call counts when
 *   - it has the form: "[Called", whitespace, the name, whitespace, "with", whitespace,
 *     "args:", optional whitespace, a JSON object, optional whitespace, "]" (the object's end
 *     is found by balancing brackets outside strings, so it may span any number of pieces and
 *     hold brackets, braces and escaped quotes inside its strings);
 *   - the name is one of the tools the request declared (the model may write the form as
 *     prose about another name);
 *   - the object is valid JSON (tr_json_is_document).
 * Anything else goes on as the text it was, never lost: a form that stops matching, an
 * unknown name, invalid JSON, a call still open when the text ends (tr_text_calls_finish), and
 * a call whose text passes the bound given at creation (held text stays bounded).
 *
 * Pure C + APR; one scanner per answer.
 */
#ifndef KIRO_TEXT_CALLS_H
#define KIRO_TEXT_CALLS_H

#include "apr_pools.h"
#include "apr_tables.h"

/* The bound on one call's held text that the Kiro decoder uses: 64 KiB of arguments plus
 * room for the words around them. */
#define TR_TEXT_CALLS_DEFAULT_MAX (64 * 1024 + 256)
/* Longest tool name taken (Kiro's own limit, codec/kiro_request.c). */
#define TR_TEXT_CALLS_MAX_NAME 64

typedef struct tr_text_calls tr_text_calls;

/* Where the scanner's output goes; a non-APR_SUCCESS return stops the scanner and is passed
 * back to its caller. text is not NUL-terminated; name is; args is the object's JSON text
 * (not NUL-terminated) as the model wrote it. */
typedef struct {
    apr_status_t (*text)(void *baton, const char *text, apr_size_t len);
    apr_status_t (*call)(void *baton, const char *name, const char *args, apr_size_t len);
    void *baton;
} tr_text_calls_sink;

/* A scanner for the tools named in names (const char *; copied, names longer than
 * TR_TEXT_CALLS_MAX_NAME ignored); max bounds the text held back for one call. Returns NULL
 * when no name is usable: there is nothing to find, the text passes as it is. */
tr_text_calls *tr_text_calls_create(apr_pool_t *p, const apr_array_header_t *names, apr_size_t max);
/* The next piece of the text. */
apr_status_t tr_text_calls_feed(tr_text_calls *s, const char *text, apr_size_t len,
                                const tr_text_calls_sink *sink);
/* The text ended (or something other than text comes next): what is held goes on as text. */
apr_status_t tr_text_calls_finish(tr_text_calls *s, const tr_text_calls_sink *sink);
/* Bytes held back now (tests). */
apr_size_t tr_text_calls_held(const tr_text_calls *s);

#endif /* KIRO_TEXT_CALLS_H */
