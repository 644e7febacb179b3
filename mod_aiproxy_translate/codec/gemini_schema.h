/*
 * codec/gemini_schema.h: JSON Schema <-> Gemini's OpenAPI Schema subset.
 *
 * Gemini's `parameters` / `responseSchema` take a Schema object: a whitelist of OpenAPI 3.0
 * keywords with a single `type` and `nullable`. Clients write JSON Schema (draft 7 / 2020-12:
 * $schema, $ref/$defs, const, type arrays, additionalProperties ...), which Gemini answers
 * with a 400. Cleaning keeps the meaning Gemini can hold and drops the rest.
 *
 * Why always the cleaned `parameters` (and never `parametersJsonSchema`) on Gemini encode:
 * every Gemini backend takes `parameters` (AI Studio v1beta, Vertex AI, Code Assist,
 * Antigravity), while `parametersJsonSchema` / `responseJsonSchema` are newer and not accepted
 * by all of them; and a cleaned schema still describes the arguments fully for the model,
 * the only things lost being validation hints (additionalProperties, patterns on unsupported
 * formats). A Gemini client's own declarations pass through unchanged on Gemini targets.
 */
#ifndef GEMINI_SCHEMA_H
#define GEMINI_SCHEMA_H

#include "json/tr_jv.h"

/* A new Gemini Schema (in pool p) for a JSON Schema (NULL when nothing usable is left, e.g. an
 * object without properties, which Gemini rejects as function parameters). */
tr_jv *tr_gemini_schema_from_json_schema(apr_pool_t *p, const tr_jv *schema);
/* A new JSON Schema (in pool p) for a Gemini Schema: lower-case types, nullable -> ["t","null"],
 * Gemini-only keywords (propertyOrdering) dropped. */
tr_jv *tr_gemini_schema_to_json_schema(apr_pool_t *p, const tr_jv *schema);

#endif /* GEMINI_SCHEMA_H */
