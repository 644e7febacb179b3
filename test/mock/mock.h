/*
 * mod_aiproxy_mock: a fake AI upstream (Anthropic, OpenAI Chat, OpenAI Responses, Gemini) for the
 * integration tests and benchmarks of the gateway.
 *
 * Everything declared here is core: it depends on APR and jansson only. The httpd glue lives in
 * mod_aiproxy_mock.c (config, handler) and mock_send.c (writing a reply to the client).
 */
#ifndef MOCK_H
#define MOCK_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>
#include <jansson.h>

/* Largest request body accepted, before and after Content-Encoding decoding. */
#define MOCK_MAX_BODY ((apr_size_t) 64 * 1024 * 1024)
/* Largest [mock:long=N]. */
#define MOCK_MAX_LONG 100000

/* ---- mock_route.c: which endpoint a request is for ---------------------------------------- */

typedef enum {
    MOCK_ANTHROPIC,
    MOCK_OPENAI,
    MOCK_RESPONSES,
    MOCK_GEMINI,
    MOCK_KIRO, /* generateAssistantResponse, answered as an AWS event stream */
} mock_proto;

typedef enum {
    MOCK_EP_NONE,             /* unknown path: 404 */
    MOCK_EP_GENERATE,         /* messages, chat/completions, responses, generateContent */
    MOCK_EP_COUNT_TOKENS,     /* anthropic messages/count_tokens, gemini :countTokens,
                               * responses/input_tokens */
    MOCK_EP_COMPACT,          /* responses/compact */
    MOCK_EP_MODELS,           /* GET .../models */
    MOCK_EP_TOKEN,            /* POST .../token (or Kiro's .../refreshToken) on an
                               * AIProxyMockOAuth vhost */
    MOCK_EP_LOAD_CODE_ASSIST, /* POST .../v1internal:loadCodeAssist (Code Assist setup) */
    MOCK_EP_ONBOARD_USER,     /* POST .../v1internal:onboardUser (a long-running operation) */
    MOCK_EP_IMAGES,           /* openai images/generations (JSON) */
    MOCK_EP_IMAGE_EDITS,      /* openai images/edits (multipart) */
    MOCK_EP_SPEECH,           /* openai audio/speech: a chunked binary answer */
    MOCK_EP_TRANSCRIBE,       /* openai audio/transcriptions, audio/translations (multipart) */
    MOCK_EP_RERANK,           /* .../rerank: cohere /v2, jina and openai-style /v1 */
    MOCK_EP_EMBED,            /* openai embeddings, gemini :embedContent and :batchEmbedContents */
    MOCK_EP_COMPLETIONS,      /* openai legacy text completions (.../completions) */
} mock_endpoint;

typedef struct {
    mock_proto proto;
    mock_endpoint ep;
    const char *path_model; /* gemini: the model named in the path */
    int path_stream;        /* gemini: :streamGenerateContent */
    int gemini_sse;         /* gemini: alt=sse */
    int code_assist;        /* gemini: .../v1internal:<action>, the Code Assist envelope
                             * ({"model", "project", "request"} in, {"response"} out) */
    int gemini_batch;       /* gemini: :batchEmbedContents */
} mock_route;

/* Match method and (raw) path on their end, so a base URL may carry a prefix. With oauth set,
 * POST .../token is the OAuth token endpoint. */
void mock_route_match(apr_pool_t *p, const char *method, const char *path, const char *query,
                      int oauth, mock_route *out);
/* Value of a query parameter (percent-decoded), or NULL. */
const char *mock_query_param(apr_pool_t *p, const char *query, const char *name);

/* ---- mock_scenario.c: [mock:...] markers --------------------------------------------------- */

typedef struct {
    int tool;                /* [mock:tool] */
    int think;               /* [mock:think] */
    int sse_error;           /* [mock:sse-error] */
    int drop;                /* [mock:drop] */
    int status;              /* [mock:status=NNN], 0 = none */
    apr_int64_t retry_after; /* [mock:retry-after=N], < 0 = none */
    apr_int64_t slow_ms;     /* [mock:slow=MS], 0 = none */
    apr_int64_t cut;         /* [mock:cut=N], < 0 = none */
    apr_int64_t long_n;      /* [mock:long=N], 0 = default */
    apr_int64_t quota;       /* [mock:quota=SECONDS]: quota exhausted until then, < 0 = none */
    int bad_crc;             /* [mock:bad-crc]: an event-stream frame with a wrong checksum */
    int no_capacity;         /* [mock:no-capacity]: Code Assist's 503 "No capacity available" */
    int text_tool;           /* [mock:text-tool]: Kiro writes the tool call into its text */
} mock_scenario;

void mock_scenario_init(mock_scenario *sc);
void mock_scenario_parse(const char *text, apr_size_t len, mock_scenario *sc);

/* ---- a parsed call ------------------------------------------------------------------------- */

typedef struct {
    apr_pool_t *pool;
    mock_route route;
    json_t *body;          /* the request object (owned by the caller) */
    apr_size_t body_len;   /* decoded body bytes */
    const char *model;     /* echoed back */
    int stream;            /* "stream": true, or gemini's stream action */
    int include_usage;     /* openai stream_options.include_usage */
    const char *user_text; /* text of the last user message, "" if none */
    apr_size_t user_text_len;
    const char *tool_name; /* first tool of the request, NULL if none */
    mock_scenario sc;
    const char *auth_markers; /* AIProxyMockOAuth: the credential's "scenario", NULL if none */
    const char *credential;   /* AIProxyMockOAuth: the label of the bearer's credential */
    apr_uint64_t seed;        /* makes ids unique per request */
    apr_time_t now;
} mock_call;

/* ---- mock_plan.c: what the reply says, independent of the wire format --------------------- */

typedef struct {
    const char *s;
    apr_size_t len;
} mock_piece;

typedef struct {
    apr_array_header_t *thinking;  /* mock_piece: thinking deltas (empty: no thinking) */
    apr_array_header_t *text;      /* mock_piece: text deltas (empty: no text) */
    apr_array_header_t *tool_args; /* mock_piece: argument deltas of the tool call */
    const char *thinking_full;
    const char *text_full;
    apr_size_t text_full_len;
    const char *tool_name; /* NULL: no tool call */
    const char *tool_args_full;
    apr_int64_t input_tokens;     /* body bytes / 4 */
    apr_int64_t output_tokens;    /* every delta counts as one token */
    apr_int64_t reasoning_tokens; /* thinking deltas */
} mock_plan;

void mock_plan_build(const mock_call *c, mock_plan *p);

/* ---- mock_reply.c: a reply as a list of frames --------------------------------------------- */

typedef struct {
    const char *data;
    apr_size_t len;
} mock_frame;

typedef struct {
    apr_pool_t *pool;
    int status;
    const char *content_type;
    apr_table_t *headers;
    apr_array_header_t *frames; /* mock_frame; a stream flushes after each */
    int stream;
    struct mock_scratch *scratch; /* JSON serialisation buffer, freed with the pool */
} mock_reply;

void mock_reply_init(mock_reply *rep, apr_pool_t *p);
void mock_reply_raw(mock_reply *rep, const char *data, apr_size_t len);
/* Append prefix + compact JSON + suffix as one frame; takes the reference of j. */
void mock_reply_json(mock_reply *rep, const char *prefix, json_t *j, const char *suffix);
/* "event: <event>\ndata: <json>\n\n" (no event line when event is NULL); takes j. */
void mock_reply_sse(mock_reply *rep, const char *event, json_t *j);
/* A complete (non-stream) JSON reply; takes j. */
void mock_reply_body(mock_reply *rep, int status, json_t *j);
/* Start an SSE stream with status 200. */
void mock_reply_stream(mock_reply *rep, const char *content_type);

/* ---- mock_util.c ----------------------------------------------------------------------------- */

apr_uint64_t mock_mix(apr_uint64_t x);
/* prefix + n base62 characters derived from (seed, salt). */
const char *mock_id(apr_pool_t *p, const char *prefix, apr_uint64_t seed, unsigned salt, int n);
/* base64 of nbytes pseudo-random bytes derived from (seed, salt): signatures, encrypted content. */
const char *mock_blob_b64(apr_pool_t *p, const char *prefix, apr_uint64_t seed, unsigned salt,
                          apr_size_t nbytes);
/* A JSON string that is always valid: bytes that are not UTF-8 become '?'. */
json_t *mock_json_string(const char *s, apr_size_t len);
/* The string member key of obj, or NULL. */
const char *mock_json_str(const json_t *obj, const char *key);
/* Concatenated text of a content value: a string, or an array of parts. A part counts when its
 * "type" equals type1 or type2 (or, with both NULL, when it has a string "text" and no true
 * "thought"). */
const char *mock_content_text(apr_pool_t *p, const json_t *content, const char *type1,
                              const char *type2, apr_size_t *len);
/* Standard reason phrase for an HTTP status. */
const char *mock_status_reason(int status);

/* ---- mock_decode.c: Content-Encoding of request bodies ------------------------------------- */

typedef enum {
    MOCK_DECODE_OK,
    MOCK_DECODE_UNSUPPORTED, /* unknown coding */
    MOCK_DECODE_CORRUPT,     /* the data does not decode */
    MOCK_DECODE_TOO_LARGE,   /* more than MOCK_MAX_BODY after decoding */
} mock_decode_status;

/* Undo a Content-Encoding list (last coding first). The result lives in p. */
mock_decode_status mock_decode_body(apr_pool_t *p, const char *encoding, const char *in,
                                    apr_size_t in_len, const char **out, apr_size_t *out_len);

/* ---- mock_auth.c: AIProxyMockRequireKey -------------------------------------------------- */

/* 1 when the request carries one of keys in the header style of its protocol. */
int mock_auth_ok(apr_pool_t *p, mock_proto proto, mock_endpoint ep, apr_table_t *headers_in,
                 const char *query, const apr_array_header_t *keys);
/* The token of "Authorization: Bearer <token>", or NULL. */
const char *mock_bearer_token(apr_table_t *headers_in);

/* ---- mock_record.c: one JSON line per request -------------------------------------------- */

typedef struct {
    const char *method;
    const char *path;
    const char *query; /* NULL: none */
    apr_table_t *headers;
    const char *raw; /* body as received */
    apr_size_t raw_len;
    const char *decoded; /* body after Content-Encoding, NULL when it did not decode */
    apr_size_t decoded_len;
    const char *content_encoding; /* NULL: none */
    int port;
    const char *upstream;
    apr_time_t time;
    json_t *oauth; /* AIProxyMockOAuth vhosts: what the token check saw (borrowed), or NULL */
} mock_record;

/* The record as one JSON line ending in "\n". */
char *mock_record_line(apr_pool_t *p, const mock_record *rec, apr_size_t *len);
/* Append a line to fd under flock, with a single write(). Returns 0 or an errno value. */
int mock_record_append(int fd, const char *line, apr_size_t len);

/* ---- providers: mock_anthropic.c, mock_openai.c, mock_responses.c, mock_gemini.c ----------- */

typedef struct {
    const char *name;
    /* Fill model, stream, include_usage, user_text and tool_name from c->body. */
    void (*parse)(mock_call *c);
    /* The successful reply (JSON or stream) for the endpoint of c->route. */
    void (*reply)(const mock_call *c, const mock_plan *p, mock_reply *out);
    /* The provider's error body for status; message NULL = the usual one for that status. */
    void (*error)(const mock_call *c, mock_reply *out, int status, const char *message);
    /* A 200 stream whose first event is an in-stream error. */
    void (*stream_error)(const mock_call *c, mock_reply *out);
    /* [mock:quota=N]: the provider's quota-exhausted 429, resetting N seconds from c->now. */
    void (*quota)(const mock_call *c, mock_reply *out, apr_int64_t seconds);
} mock_provider;

extern const mock_provider mock_anthropic_provider;
extern const mock_provider mock_openai_provider;
extern const mock_provider mock_responses_provider;
extern const mock_provider mock_gemini_provider;
extern const mock_provider mock_kiro_provider;

const mock_provider *mock_provider_for(mock_proto proto);

/* The OpenAI error envelope {"error":{message,type,param,code}} (mock_openai.c); message NULL =
 * the usual one for status. Shared by the Responses API. */
json_t *mock_openai_error_json(int status, const char *message);
/* The Codex usage_limit_reached 429 (mock_openai.c), shared by the Responses API. */
void mock_openai_quota(const mock_call *c, mock_reply *out, apr_int64_t seconds);
/* GET .../models: an OpenAI-style model list (mock_openai.c). */
void mock_models_reply(const mock_call *c, mock_reply *out);
/* ---- mock_forward.c: images, audio and rerank ---------------------------------------------- */

/* Whether ep is one of the forwarded endpoints (their bodies are not chat requests). */
int mock_forward_endpoint(mock_endpoint ep);
/* The reply of a forwarded endpoint: markers from the vhost's scenario and the prompt, input
 * or query text; [mock:status=NNN] answers the OpenAI error envelope. */
void mock_forward_reply(mock_call *c, const char *scenario, const char *content_type,
                        const char *body, apr_size_t body_len, mock_reply *out);

/* Any path the mock does not serve (mock_route.c). */
void mock_not_found_reply(apr_pool_t *p, mock_reply *out, const char *method, const char *path);

/* Endpoints of a provider beyond generation (its parse and reply delegate to these):
 * mock_embed.c (OpenAI embeddings, Gemini :embedContent/:batchEmbedContents) and
 * mock_completions.c (OpenAI legacy text completions). */
void mock_openai_embed_parse(mock_call *c);
void mock_openai_embed_reply(const mock_call *c, mock_reply *out);
void mock_gemini_embed_parse(mock_call *c);
void mock_gemini_embed_reply(const mock_call *c, mock_reply *out);
void mock_completions_parse(mock_call *c);
void mock_completions_reply(const mock_call *c, mock_reply *out);

/* ---- mock_jwt.c: unsigned JWTs (Codex access and id tokens) -------------------------------- */

/* base64url without padding. */
const char *mock_base64url(apr_pool_t *p, const char *data, apr_size_t len);
/* header.payload.signature with an RS256-looking header and an opaque signature that nothing
 * checks; the payload is the compact JSON of claims (not taken). */
const char *mock_jwt(apr_pool_t *p, const json_t *claims, apr_uint64_t seed);

/* ---- mock_oauth_store.c: tokens the mock issued, shared by every child -------------------- */

typedef enum {
    MOCK_OAUTH_OFF,
    MOCK_OAUTH_CODEX,  /* auth.openai.com + chatgpt.com/backend-api/codex */
    MOCK_OAUTH_CLAUDE, /* api.anthropic.com/v1/oauth/token + /v1/messages */
    MOCK_OAUTH_GOOGLE, /* oauth2.googleapis.com/token (no rotation) */
    MOCK_OAUTH_KIRO,   /* Kiro social .../refreshToken and AWS OIDC .../token (camelCase JSON)
                        * + generateAssistantResponse */
} mock_oauth_dialect;

/* The account of a credential seeded without one (Codex chatgpt_account_id, Claude account). */
#define MOCK_OAUTH_DEFAULT_ACCOUNT "mock-account"

/* The state file <dir>/<name>.json, read and written under flock on <dir>/<name>.lock:
 * {"control": {...}, "credentials": [{label, account, email, access, refresh, expires_at,
 *  generation, rotated_access: [{token, expires_at}], used_refresh: [...], revoked,
 *  scenario}]}. Tests edit it under the same lock while the server runs. */
typedef struct {
    const char *path;
    const char *lock_path;
    int lock_fd;
    json_t *state; /* owned; never NULL once opened */
} mock_oauth_store;

/* Lock (exclusive or shared) and load; a missing or broken file loads as an empty state.
 * Returns 0 or an errno value. */
int mock_oauth_store_open(apr_pool_t *p, const char *dir, const char *name, int exclusive,
                          mock_oauth_store *st);
/* Write the state back atomically (temp file, rename). Returns 0 or an errno value. */
int mock_oauth_store_save(mock_oauth_store *st);
/* Unlock and free. */
void mock_oauth_store_close(mock_oauth_store *st);
/* state.control.<key> as an integer, or dflt when absent or not a number. */
apr_int64_t mock_oauth_control_int(const mock_oauth_store *st, const char *key, apr_int64_t dflt);
/* "key=value ..." words of AIProxyMockIssuedToken / AIProxyMockTokenControl as a JSON object:
 * numbers stay numbers, on/off/true/false become booleans. NULL + *error on a malformed word. */
json_t *mock_oauth_words(apr_pool_t *p, const apr_array_header_t *words, const char **error);
/* Seed: add a credential whose label is not in the state yet (seed: label, access, refresh,
 * account, email, expires_in); overwrite the control keys given. */
void mock_oauth_store_seed(mock_oauth_store *st, const json_t *credential, apr_time_t now);
void mock_oauth_store_set_control(mock_oauth_store *st, const json_t *control);

/* ---- mock_oauth_token.c: the token endpoint ------------------------------------------------ */

/* POST .../token: delay, on-demand failures, refresh with rotation. Fills the reply and returns
 * the record's "oauth" object (new reference). Takes the store lock itself. */
json_t *mock_oauth_token(mock_call *c, mock_oauth_dialect dialect, const char *store_dir,
                         const char *name, const char *content_type, const char *body,
                         apr_size_t body_len, mock_reply *reply);

/* ---- mock_oauth_bearer.c: provider endpoints of an OAuth vhost ----------------------------- */

/* Check Authorization: Bearer (and Codex chatgpt-account-id, Claude anthropic-beta) against
 * the tokens the mock issued. On success returns 1 and sets c->auth_markers; otherwise fills
 * the provider's 401/403 reply and returns 0. *oauth receives the record's "oauth" object. */
int mock_oauth_bearer(mock_call *c, mock_oauth_dialect dialect, const char *store_dir,
                      const char *name, apr_table_t *headers_in, mock_reply *reply, json_t **oauth);

/* ---- mock_code_assist.c: the Code Assist setup calls of a google OAuth vhost --------------- */

/* The project of a credential of the store: its "project", else "mock-project-<label>" (a
 * copy in p, which outlives changes to the credential). */
const char *mock_code_assist_project(apr_pool_t *p, const json_t *cred);
/* POST :loadCodeAssist / :onboardUser for c->credential: the account's tier and project, or
 * its onboarding (done: false while the credential's "onboard_polls" counts down). */
void mock_code_assist_setup(mock_call *c, const char *store_dir, const char *name,
                            mock_reply *reply);
/* A :generateContent / :streamGenerateContent call names a project: is it the credential's,
 * and is the account onboarded? 1, or 0 with the 403 in reply. */
int mock_code_assist_check(mock_call *c, const char *store_dir, const char *name,
                           mock_reply *reply);

#endif
