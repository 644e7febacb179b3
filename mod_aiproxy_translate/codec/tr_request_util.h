/*
 * codec/tr_request_util.h: what the four request decoders and encoders share.
 *
 * - tr_rd: typed reads of client JSON that turn a wrong type into a 400 naming the field.
 *   The field path is a printf format evaluated only on error, so reads cost nothing extra.
 * - IR builders (messages, blocks) and IR queries every encoder needs (the system prompt
 *   hoisted out of the conversation, tool-result names recovered from call ids).
 * - Word tables: enum <-> protocol word, one table per mapping, looked up by one function.
 * - JSON building that attaches every new value to its parent at once, so an encoder that
 *   fails half way leaks nothing (the parent is released with the pool).
 * - Thinking effort <-> token budget, data URIs, tool arguments.
 */
#ifndef TR_REQUEST_UTIL_H
#define TR_REQUEST_UTIL_H

#include "tr_ir.h"

/* Built-in Anthropic max_tokens when neither the client nor the target gives one. */
#define TR_REQ_DEFAULT_MAX_TOKENS 4096
/* Smallest thinking budget Anthropic accepts. */
#define TR_REQ_MIN_THINKING_BUDGET 1024

/* ---- typed reads ---------------------------------------------------------------------------- */

typedef struct {
    apr_pool_t *p;
    aiproxy_error *err;
    int failed; /* the first failure wins; later reads return "absent" */
} tr_rd;

void tr_rd_init(tr_rd *rd, apr_pool_t *p, aiproxy_error *err);
/* Records a 400 with the formatted message (first failure only). Returns 400. */
int tr_rd_fail(tr_rd *rd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* obj[key] when it has the wanted type; NULL when missing or null; a 400 naming
 * "<where>.<key>" when present with another type. where is a printf format for the path of
 * obj ("" at the top level), formatted only on error. */
const char *tr_rd_str(tr_rd *rd, const tr_jv *obj, const char *key, const char *where, ...);
tr_jv *tr_rd_obj(tr_rd *rd, const tr_jv *obj, const char *key, const char *where, ...);
tr_jv *tr_rd_arr(tr_rd *rd, const tr_jv *obj, const char *key, const char *where, ...);
/* Number / integer / boolean: returns 1 and sets *out when present with the right type. */
int tr_rd_num(tr_rd *rd, const tr_jv *obj, const char *key, double *out, const char *where, ...);
int tr_rd_int(tr_rd *rd, const tr_jv *obj, const char *key, long *out, const char *where, ...);
int tr_rd_bool(tr_rd *rd, const tr_jv *obj, const char *key, int *out, const char *where, ...);
/* Sampling and limit fields every protocol shares by meaning, under each protocol's key. */
void tr_rd_real_into(tr_rd *rd, const tr_jv *obj, const char *key, double *value, int *has,
                     const char *where);

/* What every request decoder and encoder carries (a codec may wrap it with its own state). */
typedef struct {
    apr_pool_t *p;
    tr_request *req;
    tr_rd rd;
} tr_req_decoder;

typedef struct {
    apr_pool_t *p;
    const tr_request *req;
    const aiproxy_target *target;
    aiproxy_error *err;
} tr_req_encoder;

/* Where a value sits in the client body, for error messages: a printf format with up to three
 * int arguments ("messages[%d].content[%d]"), formatted only when a read fails. */
typedef struct {
    const char *fmt;
    int a, b, c;
} tr_loc;
#define TR_LOC(l) (l)->fmt, (l)->a, (l)->b, (l)->c

/* The rd's outcome: 0, or the recorded status. */
#define tr_rd_status(rd) ((rd)->failed ? (rd)->err->status : 0)

/* A 400 from an encoder: the request means something the target cannot express (the message
 * formatted in p, set with tr_error_set). */
int tr_req_inexpressible(apr_pool_t *p, aiproxy_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- IR building ---------------------------------------------------------------------------- */

tr_message *tr_req_add_message(apr_pool_t *p, tr_request *req, tr_role role);
/* The last message when it has role, else a new message with role (merges tool results
 * into one user turn, and Responses items into one assistant turn). */
tr_message *tr_req_last_or_add(apr_pool_t *p, tr_request *req, tr_role role);
tr_block *tr_req_add_block(apr_pool_t *p, apr_array_header_t *blocks, tr_block_kind kind);
tr_block *tr_req_add_text(apr_pool_t *p, apr_array_header_t *blocks, const char *text);
apr_array_header_t *tr_req_blocks(apr_pool_t *p);
/* Fill req->tools etc. lazily: arrays are created on first use. */
tr_tool *tr_req_add_tool(apr_pool_t *p, tr_request *req);
void tr_req_add_stop(apr_pool_t *p, tr_request *req, const char *stop);
void tr_req_add_allowed_tool(apr_pool_t *p, tr_request *req, const char *name);

/* Gemini's switch for streamed call arguments, toolConfig.functionCallingConfig.
 * streamFunctionCallArguments, into req->stream_tool_arguments. Gemini clients send it; OpenAI
 * and Responses clients may send the same member at the top of their body (their SDKs'
 * extra_body), their protocols having no switch of their own. */
void tr_req_read_stream_function_call_arguments(tr_rd *rd, tr_request *req);

/* After decoding: every TOOL_RESULT without a name gets the name of the TOOL_CALL with its id
 * (Gemini needs the function name in functionResponse; the other protocols only send ids). */
void tr_req_resolve_result_names(apr_pool_t *p, tr_request *req);

/* ---- IR queries for encoders ---------------------------------------------------------------- */

/* The system prompt for targets that have only a top-level system field: req->system, then
 * the TEXT blocks of every in-conversation SYSTEM message, in order (tr_block *). */
apr_array_header_t *tr_req_hoisted_system(apr_pool_t *p, const tr_request *req);
/* Text of the blocks of kind (TEXT, THINKING) joined with sep (one allocation). */
const char *tr_req_join_text(apr_pool_t *p, const apr_array_header_t *blocks, tr_block_kind kind,
                             const char *sep);
/* 1 when the client allowed tool name (no allowed list, or name is on it). */
int tr_req_tool_allowed(const tr_request *req, const char *name);
/* 1 when the model may call t: a function tool with a name, allowed, and tool choice not
 * none. */
int tr_req_tool_callable(const tr_request *req, const tr_tool *t);
/* The names of the tools the model may call (const char *), or NULL when there are none. */
apr_array_header_t *tr_req_callable_tool_names(apr_pool_t *p, const tr_request *req);
/* 1 when block carries a signature minted by proto. */
int tr_req_signed_by(const tr_block *b, aiproxy_proto proto);
/* A 400 when req depends on server-side state only target_proto's own server holds. */
int tr_req_check_server_state(apr_pool_t *p, const tr_request *req, aiproxy_proto target_proto,
                              aiproxy_error *err);
/* A 400 when the client asked for more than one answer: the IR and every response decoder
 * carry one answer, so n / candidateCount > 1 can only pass through unchanged (same protocol,
 * no re-encode), never be translated. */
int tr_req_check_single_answer(apr_pool_t *p, const tr_request *req, aiproxy_proto target_proto,
                               aiproxy_error *err);
/* A 400 for a file_id: files live in one provider's store (OpenAI's serves both OpenAI
 * protocols), so an id minted elsewhere cannot be resolved by target_proto. */
int tr_req_check_file_id(apr_pool_t *p, const tr_request *req, const tr_block *b,
                         aiproxy_proto target_proto, aiproxy_error *err);

/* ---- word tables ---------------------------------------------------------------------------- */

typedef struct {
    int value;
    const char *word;
} tr_req_word;

/* Chat Completions and Responses share these words (tool_choice strings, format types). */
extern const tr_req_word tr_req_openai_tool_choices[];
extern const tr_req_word tr_req_openai_formats[];

/* The value of word (exact match) in a table ending with {0, NULL}; dflt when absent. */
int tr_req_word_value(const tr_req_word *table, const char *word, int dflt);
/* The first word of value, or NULL. */
const char *tr_req_value_word(const tr_req_word *table, int value);

/* ---- thinking effort ------------------------------------------------------------------------ */

/* IR effort words are OpenAI's: none, minimal, low, medium, high, xhigh. */
long tr_req_effort_budget(const char *effort); /* 0 for unknown / none */
const char *tr_req_budget_effort(long budget); /* nearest effort for a budget */
/* Effort word in proto's vocabulary (Anthropic: low/medium/high/max). NULL: no equivalent. */
const char *tr_req_effort_word(aiproxy_proto proto, const char *ir_effort);
/* IR effort from proto's word (Anthropic "max" -> "xhigh"); unknown words pass unchanged. */
const char *tr_req_effort_from(aiproxy_proto proto, const char *word);

/* ---- JSON building (json/tr_jv.h does the rest) --------------------------------------------- */

/* A deep copy of v set at key (client JSON placed into an encoded body). */
void tr_req_set_copy(tr_jv *obj, const char *key, const tr_jv *v);
/* Drop key when it holds an empty array or object. */
void tr_req_drop_empty(tr_jv *obj, const char *key);
/* The encoder's result: *out = body on success (status 0), NULL otherwise. Returns status. */
int tr_req_finish_body(tr_jv *body, int status, tr_jv **out);

/* Same-protocol re-encodes (a must-stream target changed the stream flag): copy every key
 * of the client's body the encoder did not produce, one level deep into objects both have,
 * so nothing the IR lacks is lost. skip: NULL-terminated keys never copied back. */
void tr_req_keep_unclaimed(tr_jv *body, const tr_jv *root, const char *const *skip);

/* ---- payloads ------------------------------------------------------------------------------- */

/* "data:<media type>;base64,<payload>" -> media type (pool copy) and payload (points into
 * uri). Returns 1 for a base64 data URI, 0 otherwise. */
int tr_req_parse_data_uri(apr_pool_t *p, const char *uri, const char **media_type,
                          const char **data);
const char *tr_req_data_uri(apr_pool_t *p, const char *media_type, const char *data);
/* Media type guessed from a URL's extension, or dflt. */
const char *tr_req_media_type_from_url(const char *url, const char *dflt);
int tr_req_is_image_type(const char *media_type);
/* Tool arguments as a JSON object in pool p ({} when the text is not an object). */
tr_jv *tr_req_arguments_object(apr_pool_t *p, const char *arguments);
/* Compact JSON text in pool memory ("{}" for NULL). */
const char *tr_req_json_text(apr_pool_t *p, const tr_jv *v);
/* id with every character outside [A-Za-z0-9_-] replaced by '_' (Anthropic's id pattern);
 * returns id itself when already valid. */
const char *tr_req_safe_id(apr_pool_t *p, const char *id);

#endif /* TR_REQUEST_UTIL_H */
