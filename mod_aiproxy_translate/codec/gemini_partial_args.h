/*
 * codec/gemini_partial_args.h: Gemini streamed function-call arguments -> JSON object text,
 * written as the fragments arrive.
 *
 * With toolConfig.functionCallingConfig.streamFunctionCallArguments, Gemini (Vertex AI, Gemini
 * 3) streams one call over several functionCall parts: the first names the function, the
 * following ones carry partialArgs, each an assignment {jsonPath, stringValue | numberValue |
 * boolValue | nullValue, willContinue} (jsonPath is RFC 9535, "$.recipe.items[0].name"; a
 * string whose willContinue is true goes on in the next assignment to the same path), and a
 * part without willContinue ends the call. The other protocols stream a call as pieces of its
 * JSON text, so the assembler turns each assignment into the next piece of that text.
 *
 * Why the text can be written at once: the model writes the arguments front to back, so every
 * assignment either goes on inside the member written last or starts the next member of one of
 * the containers still open. The assembler keeps only that path of open containers (the keys
 * of the current members, at most TR_PARTIAL_ARGS_MAX_DEPTH levels), never the arguments.
 * An assignment that does not fit that order (a member of a container already closed, an array
 * index other than the next one, a scalar over an open container, a path it cannot read) is
 * left out, so the text stays one well-formed JSON object whatever the upstream sends.
 */
#ifndef GEMINI_PARTIAL_ARGS_H
#define GEMINI_PARTIAL_ARGS_H

#include "apr_pools.h"
#include "json/tr_buf.h"
#include "json/tr_jv.h"

/* Containers open at once, the root object included. */
#define TR_PARTIAL_ARGS_MAX_DEPTH 64

typedef struct tr_partial_args tr_partial_args;

/* An assembler for one call at a time; max caps the text of one call (further assignments
 * are left out once it is reached; the closing brackets are always written). */
tr_partial_args *tr_partial_args_create(apr_pool_t *p, apr_size_t max);
/* Append to out the text for the partialArgs array of one functionCall part (scratch: for
 * decoding its paths, may be cleared once this returns). */
void tr_partial_args_apply(tr_partial_args *a, apr_pool_t *scratch, const tr_jv *partial_args,
                           tr_buf *out);
/* Append the text that closes the call's object ("{}" when nothing was assigned) and make the
 * assembler ready for the next call. */
void tr_partial_args_finish(tr_partial_args *a, tr_buf *out);
/* Assignments left out so far in this call (tests, logging). */
int tr_partial_args_dropped(const tr_partial_args *a);

#endif /* GEMINI_PARTIAL_ARGS_H */
