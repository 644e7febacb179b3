/*
 * aiproxy_translate.h: the protocol core's public API (pure: APR only, no httpd headers).
 *
 * mod_aiproxy never parses or builds protocol JSON itself; it goes through these functions
 * (reached at run time through the optional function in mod_aiproxy_translate.h). The same
 * functions are linked directly into the unit tests, the fuzzers and the benchmarks.
 *
 * Protocols are the four public wire formats. Upstream "api types" such as codex or geminicli
 * are one of these plus, for some, a dialect: the body and endpoint rules of a subscription
 * backend (applied here, see aiproxy_dialect); their credentials and identity headers come
 * from mod_aiproxy_oauth.
 */
#ifndef AIPROXY_TRANSLATE_H
#define AIPROXY_TRANSLATE_H

#include "apr_pools.h"
#include "apr_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AIPROXY_PROTO_ANTHROPIC = 0, /* Anthropic Messages: POST /v1/messages */
    AIPROXY_PROTO_OPENAI,        /* OpenAI Chat Completions: POST /v1/chat/completions */
    AIPROXY_PROTO_RESPONSES,     /* OpenAI Responses: POST /v1/responses */
    AIPROXY_PROTO_GEMINI,        /* Gemini: POST /v1beta/models/{m}:(stream)generateContent */
    AIPROXY_PROTO_COUNT,         /* the client protocols: the four above */
    /* Upstream-only wire formats follow: the gateway speaks them to an upstream but no client
     * speaks them to the gateway (no routes, no request parsing, no client encoders). */
    AIPROXY_PROTO_KIRO = AIPROXY_PROTO_COUNT, /* Kiro (AWS CodeWhisperer): conversationState
                                               * JSON to /generateAssistantResponse, answered
                                               * in the AWS event stream */
    AIPROXY_PROTO_UPSTREAM_COUNT              /* every protocol an upstream may speak */
} aiproxy_proto;

/* "anthropic", "openai", "responses", "gemini", "kiro". */
const char *aiproxy_proto_name(aiproxy_proto proto);
/* Returns 0 and sets *out when name is a client protocol's name, -1 otherwise. */
int aiproxy_proto_from_name(const char *name, aiproxy_proto *out);

/* How a stream is framed for the client. Gemini has two: SSE with ?alt=sse, else a JSON array. */
typedef enum {
    AIPROXY_STREAM_NONE = 0,   /* one complete JSON body */
    AIPROXY_STREAM_SSE,        /* text/event-stream */
    AIPROXY_STREAM_JSON_ARRAY, /* Gemini streamGenerateContent without alt=sse */
    AIPROXY_STREAM_EVENTSTREAM /* application/vnd.amazon.eventstream (Kiro); upstreams only */
} aiproxy_stream_mode;

/* What a routed request asks of the model. The request flow (candidates, failover, breakers)
 * is the same for each; what is sent and how the answer is read differ. */
typedef enum {
    AIPROXY_OP_GENERATE = 0, /* generate an answer */
    AIPROXY_OP_COUNT_TOKENS, /* count the request's input tokens; the client gets Anthropic's
                              * {"input_tokens": N} whatever the upstream counts in */
    /* Forward the body unchanged to an upstream of the client's own API (images, audio,
     * rerank): only its model is mapped, in a JSON body's "model" member or a
     * multipart/form-data body's "model" field. No answer translation: the caller passes the
     * upstream's answer through and creates no aiproxy_response. */
    AIPROXY_OP_FORWARD,
    AIPROXY_OP_EMBED,   /* embed texts: OpenAI /v1/embeddings, Gemini :embedContent and
                         * :batchEmbedContents; other protocols have no embeddings */
    AIPROXY_OP_COMPLETE /* a legacy text completion (OpenAI /v1/completions): the prompt as
                         * one user turn, the answer as text_completion objects */
} aiproxy_operation;

/* How the client wants an embeddings answer, beyond its protocol (AIPROXY_OP_EMBED). */
typedef enum {
    /* a list of vectors (Gemini :batchEmbedContents, an OpenAI input array) */
    AIPROXY_EMBED_LIST = 1,
    /* vectors as base64 of little-endian float32 (OpenAI encoding_format) */
    AIPROXY_EMBED_BASE64 = 2
} aiproxy_embed_flag;

/* A client-visible failure: HTTP status plus a message for the protocol's error envelope. */
typedef struct {
    int status;          /* 400, 413, 415, 422, 502 ... */
    const char *type;    /* short category: "invalid_request_error", "api_error" ... */
    const char *message; /* human readable, safe to show to the client */
    /* What went wrong when the status alone does not say it ("unknown_url" and
     * "model_not_found" are both 404s), or NULL. A known code chooses every protocol's words
     * (error type, Gemini status) over the status table; any code is OpenAI's error.code. */
    const char *code;
} aiproxy_error;

/* ------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------ */

/* A client request parsed once; opaque. Lives in the pool given to aiproxy_request_parse. */
typedef struct aiproxy_request aiproxy_request;

/* Where the route put information the body does not carry (Gemini keeps the model and the
 * stream flag in the URL; the Responses API has a /compact variant). */
typedef struct {
    const char *model;           /* from the path, or NULL */
    aiproxy_stream_mode stream;  /* from the path action (Gemini), or AIPROXY_STREAM_NONE */
    const char *variant;         /* route variant kept on passthrough ("compact"), or NULL */
    aiproxy_operation operation; /* what the route asks (generation unless it says otherwise) */
    /* AIPROXY_OP_FORWARD: the body's Content-Type when it is multipart/form-data (its
     * boundary is read from it); NULL for a JSON body. */
    const char *content_type;
} aiproxy_route_info;

/* Parse and validate a client body. Returns NULL and fills *err (status 400) on bad input:
 * malformed JSON, wrong types, missing model. Never aborts on any input. */
aiproxy_request *aiproxy_request_parse(apr_pool_t *p, aiproxy_proto proto, const char *body,
                                       apr_size_t len, const aiproxy_route_info *route,
                                       aiproxy_error *err);

aiproxy_proto aiproxy_request_proto(const aiproxy_request *req);
const char *aiproxy_request_model(const aiproxy_request *req);
aiproxy_stream_mode aiproxy_request_stream(const aiproxy_request *req);
/* The client asked for usage in its stream (OpenAI stream_options.include_usage). */
int aiproxy_request_wants_stream_usage(const aiproxy_request *req);
aiproxy_operation aiproxy_request_operation(const aiproxy_request *req);
/* aiproxy_embed_flag bits of an embeddings request (0 for other operations). */
unsigned aiproxy_request_embed_flags(const aiproxy_request *req);

/* A subscription backend's variant of a protocol: what its endpoint refuses, requires or
 * expects beyond the public API (pipeline/tr_dialect.c holds each one's rules). */
typedef enum {
    AIPROXY_DIALECT_NONE = 0,    /* the public API as documented */
    AIPROXY_DIALECT_CODEX,       /* Responses at the ChatGPT Codex backend: always streams */
    AIPROXY_DIALECT_CLAUDE_CODE, /* Anthropic Messages with a Claude Code subscription */
    AIPROXY_DIALECT_GEMINI_CLI,  /* Gemini in the Code Assist v1internal envelope */
    AIPROXY_DIALECT_ANTIGRAVITY, /* the same envelope as the Antigravity IDE sends it */
    AIPROXY_DIALECT_COUNT
} aiproxy_dialect;

/* What one attempt sends upstream. */
typedef struct {
    aiproxy_proto proto;     /* the upstream's wire protocol */
    const char *model;       /* upstream model name, after mapping */
    int stream;              /* ask the upstream to stream (forced by must-stream types) */
    long default_max_tokens; /* used when the target needs max tokens and the client gave
                              * none; 0 = built-in default */
    aiproxy_dialect dialect; /* the backend's variant of proto; a dialect that always streams
                              * sets upstream_stream whatever stream says */
    const char *account;     /* the account the body must name, from the attempt's credential
                              * (aiproxy_credential.account: Kiro's profileArn), or NULL */
    /* The account the dialect's body must name, as the credential provider found it
     * (geminicli, antigravity: the Code Assist project id), or NULL: left out. */
    const char *project;
    /* An id unique to this attempt (Code Assist user_prompt_id, Antigravity requestId), or
     * NULL: the dialect derives a stable one from the conversation. */
    const char *request_id;
    const char *path; /* AIPROXY_OP_FORWARD: the upstream path the body goes to */
    /* The model name asked for thinking ("-thinking"): on at the target's default unless the
     * request set it (pipeline/tr_thinking.h). */
    int thinking;
} aiproxy_target;

typedef struct {
    /* The protocol the body is in and the upstream answers in: the target's, unless the
     * operation exists only in another protocol of the same upstream (OpenAI counts tokens
     * only in its Responses API). Give it to aiproxy_response_spec.upstream. */
    aiproxy_proto proto;
    const char *body;
    apr_size_t len;
    const char *path;   /* path to append to the upstream base URL: "/v1/messages" */
    const char *query;  /* query string without '?', or NULL: "alt=sse" */
    const char *accept; /* Accept header to send: "text/event-stream" or "application/json" */
    aiproxy_stream_mode upstream_stream; /* how the upstream will answer */
    /* The tools the body lets the model call (const char * names), when the body was
     * translated, else NULL. Give it to aiproxy_response_spec.tool_names. */
    const apr_array_header_t *tool_names;
} aiproxy_upstream_request;

/* Build the body (and path) for one attempt. Same protocol on both sides passes the client
 * body through with only the model changed (and the target's dialect rules applied). Returns
 * 0, or an HTTP status with *err filled when the request cannot be expressed for that
 * upstream without changing its meaning. */
int aiproxy_request_build(apr_pool_t *p, const aiproxy_request *req, const aiproxy_target *target,
                          aiproxy_upstream_request *out, aiproxy_error *err);

/* ------------------------------------------------------------------------------------------
 * Responses (complete JSON bodies and SSE streams), translated incrementally
 * ------------------------------------------------------------------------------------------ */

typedef struct {
    aiproxy_proto client;
    aiproxy_stream_mode client_stream;
    aiproxy_proto upstream;
    aiproxy_stream_mode upstream_stream;
    const char *client_model;    /* model name the client asked for, reported back to it */
    int include_usage;           /* OpenAI client asked for stream_options.include_usage */
    aiproxy_operation operation; /* the request's (aiproxy_request_operation) */
    /* The upstream's dialect (aiproxy_target.dialect): a backend that wraps each answer and
     * each stream event in an envelope ({"response": ...}) has it taken off here. */
    aiproxy_dialect upstream_dialect;
    unsigned embed_flags; /* the request's (aiproxy_request_embed_flags) */
    /* The tools the upstream was offered (aiproxy_upstream_request.tool_names), or NULL: a
     * decoder that finds calls written into the answer text (Kiro's "[Called name with args:
     * {...}]") takes only these names. */
    const apr_array_header_t *tool_names;
} aiproxy_response_spec;

/* Where translated bytes go. Each call carries complete output units (a whole SSE event, or
 * the whole JSON body) so the caller may flush after every call. */
typedef struct {
    apr_status_t (*write)(void *baton, const char *data, apr_size_t len);
    void *baton;
} aiproxy_sink;

typedef struct {
    long long input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens;
    int seen_content; /* a content event (text, thinking, tool call) was emitted */
    int seen_error;   /* the upstream reported an error inside the body / stream */
    const char *stop; /* client-protocol stop reason emitted, or NULL */
} aiproxy_response_info;

typedef struct aiproxy_response aiproxy_response;

aiproxy_response *aiproxy_response_create(apr_pool_t *p, const aiproxy_response_spec *spec);
/* Streams take the memory for one upstream event from an allocator the threads of this process
 * share, and give it back after the event (an open stream between events holds none): call
 * once per process before answers are translated (httpd: child_init). Without it each stream
 * uses its own pool's allocator. */
apr_status_t aiproxy_response_share_scratch(apr_pool_t *p);
/* Content-Type to send to the client. */
const char *aiproxy_response_content_type(const aiproxy_response *t);
/* Feed upstream body bytes as they arrive (any split); emits translated units to sink. */
apr_status_t aiproxy_response_feed(aiproxy_response *t, const char *data, apr_size_t len,
                                   const aiproxy_sink *sink);
/* End of upstream body. upstream_broke: the connection failed mid-body; a stream then ends
 * with the client protocol's error event, a JSON body with its error envelope. */
apr_status_t aiproxy_response_finish(aiproxy_response *t, int upstream_broke,
                                     const aiproxy_sink *sink);
const aiproxy_response_info *aiproxy_response_get_info(const aiproxy_response *t);

/* ------------------------------------------------------------------------------------------
 * Errors and model lists in each protocol's own envelope
 * ------------------------------------------------------------------------------------------ */

/* A complete JSON error body for the client's protocol (Content-Type application/json). */
const char *aiproxy_error_body(apr_pool_t *p, aiproxy_proto proto, const aiproxy_error *err,
                               apr_size_t *len);
/* The message inside an upstream's error body (any protocol's envelope), or NULL. */
const char *aiproxy_error_message_from_body(apr_pool_t *p, aiproxy_proto upstream, const char *body,
                                            apr_size_t len);
/* A model list in the shape the protocol's clients expect (array of const char *). */
const char *aiproxy_model_list_body(apr_pool_t *p, aiproxy_proto proto,
                                    const apr_array_header_t *models, apr_size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* AIPROXY_TRANSLATE_H */
