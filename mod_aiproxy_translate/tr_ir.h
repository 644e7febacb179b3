/*
 * tr_ir.h: the intermediate representation every protocol decodes into and encodes from.
 *
 * One IR for requests, complete responses and stream events (DESIGN.md, "Translation").
 * Strings are NUL-terminated and either point into the parsed tree (json/tr_jv.h, which lives as
 * long as the pool that owns the request) or are pool-allocated. Arrays are
 * apr_array_header_t of pointers. Nothing here is protocol specific: names follow the
 * concept, and each protocol file maps its fields onto them with tables.
 *
 * Extending: add fields (zero = absent), never change the meaning of an existing one.
 */
#ifndef TR_IR_H
#define TR_IR_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "aiproxy_translate.h"
#include "json/tr_jv.h"

/* ---- content ------------------------------------------------------------------------------ */

typedef enum {
    TR_BLOCK_TEXT = 0,
    TR_BLOCK_IMAGE,             /* data (base64) + media_type, or url */
    TR_BLOCK_DOCUMENT,          /* pdf/text documents: data + media_type, url, or file_id */
    TR_BLOCK_THINKING,          /* text (may be empty when only a summary/signature exists) */
    TR_BLOCK_REDACTED_THINKING, /* opaque data only (Anthropic redacted_thinking) */
    TR_BLOCK_TOOL_CALL,         /* id, name, arguments (JSON text) */
    TR_BLOCK_TOOL_RESULT,       /* tool_call_id, name, is_error, content (text/image blocks) */
    TR_BLOCK_KIND_COUNT
} tr_block_kind;

typedef struct tr_block {
    tr_block_kind kind;
    const char *text; /* TEXT, THINKING */
    /* Opaque proof attached by the model: Anthropic thinking signature, Gemini
     * thoughtSignature (on thought, text or functionCall parts), Responses reasoning
     * encrypted_content. Carried unchanged; sig_proto says which protocol minted it so an
     * encoder only sends it to a protocol that can verify it. Never invented. */
    const char *signature;
    aiproxy_proto sig_proto;
    int has_signature;
    const char *redacted_data; /* REDACTED_THINKING */
    const char *reasoning_id;  /* Responses reasoning item id (rs_...), when known */

    const char *media_type; /* IMAGE, DOCUMENT: "image/png", "application/pdf" */
    const char *data;       /* base64 payload */
    const char *url;        /* http(s)/gs URL */
    const char *file_id;
    const char *filename;
    const char *detail; /* OpenAI image detail: low/high/auto */

    const char *id;        /* TOOL_CALL: call id */
    const char *name;      /* TOOL_CALL, TOOL_RESULT: function name */
    const char *arguments; /* TOOL_CALL: JSON object text, "{}" when empty */

    const char *tool_call_id;    /* TOOL_RESULT */
    int is_error;                /* TOOL_RESULT */
    apr_array_header_t *content; /* TOOL_RESULT: tr_block * (TEXT, IMAGE, DOCUMENT) */

    tr_jv *cache_control; /* Anthropic cache_control, kept for Anthropic targets */

    /* Request-side additions (tr_*_request.c). */
    const char *item_id; /* Responses input item id (msg_/fc_...) the block came from; only
                          * re-sent to Responses, where consecutive blocks sharing it form
                          * one item again */
    int id_generated;    /* TOOL_CALL/TOOL_RESULT: id made up by the decoder (Gemini parts
                          * without ids), so it is not sent back to Gemini */
    tr_jv *result_json;  /* TOOL_RESULT: structured result object (Gemini
                          * functionResponse.response), re-sent unchanged to Gemini */
} tr_block;

typedef enum {
    TR_ROLE_USER = 0,
    TR_ROLE_ASSISTANT,
    TR_ROLE_SYSTEM, /* a system/developer message inside the conversation */
    TR_ROLE_COUNT
} tr_role;

/* Tool results are TOOL_RESULT blocks in USER messages (OpenAI role:"tool" messages and
 * Responses function_call_output items decode into that). */
typedef struct {
    tr_role role;
    int developer;              /* SYSTEM came from an OpenAI "developer" role */
    apr_array_header_t *blocks; /* tr_block * */
} tr_message;

/* ---- tools -------------------------------------------------------------------------------- */

typedef struct {
    const char *type; /* "function" for callable tools; others (web_search, namespace,
                       * provider built-ins) are kept raw for same-family targets and
                       * flattened or dropped elsewhere */
    const char *name;
    const char *description;
    tr_jv *parameters; /* JSON Schema object, or NULL */
    int strict;        /* -1 unset, 0/1 */
    tr_jv *raw;        /* the client's original tool object */
} tr_tool;

typedef enum {
    TR_TOOL_CHOICE_UNSET = 0,
    TR_TOOL_CHOICE_AUTO,
    TR_TOOL_CHOICE_ANY, /* must call some tool: Anthropic any, OpenAI required, Gemini ANY */
    TR_TOOL_CHOICE_NONE,
    TR_TOOL_CHOICE_NAMED /* must call tool_choice_name */
} tr_tool_choice;

typedef enum {
    TR_FORMAT_UNSET = 0,
    TR_FORMAT_TEXT,
    TR_FORMAT_JSON_OBJECT,
    TR_FORMAT_JSON_SCHEMA
} tr_format_kind;

/* ---- request ------------------------------------------------------------------------------ */

typedef struct {
    aiproxy_proto proto; /* protocol the request was decoded from */
    tr_jv *root;         /* the parsed client body (owned; released with the pool) */
    const char *model;
    aiproxy_stream_mode stream;
    const char *variant; /* route variant, e.g. "compact" */
    aiproxy_operation operation;
    unsigned embed_flags; /* aiproxy_embed_flag bits (AIPROXY_OP_EMBED) */

    apr_array_header_t *system;   /* tr_block * (TEXT) from system/instructions/systemInstruction */
    apr_array_header_t *messages; /* tr_message * */

    apr_array_header_t *tools; /* tr_tool * */
    tr_tool_choice tool_choice;
    const char *tool_choice_name;
    int parallel_tool_calls; /* -1 unset, 0/1 */

    double temperature, top_p;
    int has_temperature, has_top_p;
    long top_k;               /* 0 = unset */
    long max_tokens;          /* 0 = unset */
    apr_array_header_t *stop; /* const char * */
    long n;                   /* candidates requested; 0 = unset */
    long seed;
    int has_seed;
    double presence_penalty, frequency_penalty;
    int has_presence_penalty, has_frequency_penalty;

    tr_format_kind format; /* structured output */
    const char *format_name;
    tr_jv *format_schema;
    int format_strict; /* -1 unset */

    int thinking;                 /* -1 unset, 0 disabled, 1 enabled */
    long thinking_budget;         /* tokens; 0 = unset */
    const char *reasoning_effort; /* "minimal", "low", "medium", "high" ... or NULL */
    int include_thoughts;         /* Gemini includeThoughts / Responses summary requested */

    int include_usage; /* OpenAI stream_options.include_usage */
    const char *user;  /* end-user id (OpenAI user, Anthropic metadata.user_id) */

    /* Request-side additions (tr_*_request.c). */
    int thinking_adaptive;         /* Anthropic thinking.type "adaptive": the model decides */
    const char *reasoning_summary; /* Responses reasoning.summary ("auto", "detailed" ...) */
    apr_array_header_t *tool_choice_allowed; /* const char *: the only tools the model may call
                                              * (Gemini allowedFunctionNames, OpenAI and
                                              * Responses allowed_tools), or NULL */
    /* Conversation state held by the upstream server (Responses previous_response_id or
     * item_reference, Gemini cachedContent): only its own protocol can resolve it, any other
     * target answers 400 naming server_state_field. */
    const char *server_state_field;
    const char *server_state;
    /* The client wants tool-call arguments streamed while the model writes them (Anthropic
     * eager_input_streaming on a tool; Gemini streamFunctionCallArguments, also read from
     * OpenAI and Responses bodies): asked of Gemini upstreams, which otherwise send each call
     * whole. */
    int stream_tool_arguments;
} tr_request;

/* ---- responses and streams ---------------------------------------------------------------- */

/* Canonical stop reasons; each protocol maps its own names through a table (tr_stop.c). */
typedef enum {
    TR_STOP_NONE = 0,
    TR_STOP_END_TURN, /* natural end */
    TR_STOP_MAX_TOKENS,
    TR_STOP_STOP_SEQUENCE,
    TR_STOP_TOOL_USE,
    TR_STOP_PAUSE_TURN,
    TR_STOP_REFUSAL,
    TR_STOP_CONTENT_FILTER, /* SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII ... */
    TR_STOP_CONTEXT_EXCEEDED,
    TR_STOP_MALFORMED_CALL, /* Gemini MALFORMED_FUNCTION_CALL */
    TR_STOP_ERROR,
    TR_STOP_OTHER,
    TR_STOP_COUNT
} tr_stop;

/* Token usage. input counts every prompt token including cached ones (OpenAI semantics);
 * cache_read/cache_write are the cached parts; output includes reasoning. Decoders convert
 * from each protocol's convention (Anthropic input_tokens excludes cache tokens). */
typedef struct {
    long long input, output, cache_read, cache_write, reasoning;
    int has_input, has_output, has_cache_read, has_cache_write, has_reasoning;
} tr_usage;

typedef struct {
    const char *id;
    const char *model;
    long long created;          /* unix seconds; 0 = unknown */
    apr_array_header_t *blocks; /* tr_block * of the assistant answer */
    tr_stop stop;
    const char *stop_raw; /* the upstream's own word, for "other" and logging */
    const char *stop_sequence;
    tr_usage usage;
} tr_response;

typedef enum {
    TR_EV_MESSAGE_START = 0, /* id, model, usage (input, if known) */
    TR_EV_BLOCK_START,       /* index, block_kind; TOOL_CALL: id, name */
    TR_EV_BLOCK_DELTA,       /* index, delta_kind, text/len */
    TR_EV_BLOCK_STOP,        /* index */
    TR_EV_MESSAGE_DELTA,     /* stop, stop_raw, stop_sequence, usage */
    TR_EV_MESSAGE_STOP,      /* end of the answer */
    TR_EV_ERROR,             /* error (status, type, message) */
    TR_EV_PING,
    TR_EV_KIND_COUNT
} tr_event_kind;

typedef enum {
    TR_DELTA_TEXT = 0,
    TR_DELTA_THINKING,
    TR_DELTA_SIGNATURE, /* thinking signature (arrives whole) */
    TR_DELTA_ARGUMENTS, /* tool call arguments fragment (JSON text) */
    TR_DELTA_REDACTED   /* redacted thinking data */
} tr_delta_kind;

/* Stream contract every producer (stream decoders, tr_replay.c) keeps, so encoders and
 * tr_accumulate.c can rely on it:
 *  - MESSAGE_START comes first, once; MESSAGE_STOP or ERROR ends the stream.
 *  - Block indexes are 0, 1, 2 ... in the order of their BLOCK_START; every DELTA and
 *    BLOCK_STOP names a started, not yet stopped block. Blocks may interleave (parallel tool
 *    calls whose argument fragments alternate).
 *  - Signatures travel as a TR_DELTA_SIGNATURE delta (whole, with sig_proto) on the block they
 *    belong to, whatever its kind (Gemini signs text and functionCall parts too).
 *  - A TOOL_CALL block's ARGUMENTS fragments concatenate to a JSON object text ("{}" at least).
 *  - REDACTED_THINKING: BLOCK_START, one TR_DELTA_REDACTED delta with the data, BLOCK_STOP.
 *  - THINKING BLOCK_START may carry the Responses reasoning item id in id.
 *  - usage in MESSAGE_START/MESSAGE_DELTA holds totals so far: a field present (has_*) in a
 *    later event replaces the earlier value. */
typedef struct {
    tr_event_kind kind;
    int index; /* block index within the message */
    tr_block_kind block_kind;
    tr_delta_kind delta_kind;
    const char *text; /* delta payload (not NUL-terminated when len is given) */
    apr_size_t len;
    const char *id, *name; /* MESSAGE_START: message id; BLOCK_START TOOL_CALL: call id, name */
    const char *model;
    const char *signature; /* BLOCK_START of a block that arrives with its signature */
    aiproxy_proto sig_proto;
    tr_stop stop;
    const char *stop_raw, *stop_sequence;
    tr_usage usage;
    aiproxy_error error; /* ERROR */
    long long created;   /* MESSAGE_START: unix seconds, 0 = unknown (added for
                          * OpenAI created / Responses created_at) */
} tr_event;

#endif /* TR_IR_H */
