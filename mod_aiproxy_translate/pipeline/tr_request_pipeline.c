/*
 * pipeline/tr_request_pipeline.c: parse a client request once, then build each attempt's
 * upstream body.
 *
 * Parsing only peeks (model, stream, basic shape) so a same-protocol attempt costs one parse
 * and one serialization. The full IR is decoded lazily, the first time an attempt targets
 * another protocol, and reused by later attempts. A target's dialect (pipeline/tr_dialect.c)
 * shapes whatever body results, passthrough included, and may replace the endpoint.
 *
 * The operation picks the codec (tr_codec_for_operation: OpenAI's legacy completions have
 * their own); a token count and embeddings build their own kind of body on the same attempt.
 */
#include <string.h>
#include "apr_strings.h"
#include "codec/tr_codec.h"
#include "json/tr_jv.h"
#include "codec/tr_embed.h"
#include "codec/tr_request_util.h"
#include "pipeline/tr_dialect.h"
#include "pipeline/tr_forward.h"
#include "pipeline/tr_thinking.h"
#include "tr_error.h"

struct aiproxy_request {
    tr_request ir;
    const char *body; /* the client's bytes, sent unchanged when nothing needs to change */
    apr_size_t len;
    int decoded;       /* ir holds the full decode (not only the peek) */
    int decode_status; /* the decode's result, replayed on later attempts */
    aiproxy_error decode_err;
    tr_forward_body forward; /* AIPROXY_OP_FORWARD: the body's kind and where its model is */
};

/* A forwarded body (AIPROXY_OP_FORWARD): only its model is read, never its shape. */
static aiproxy_request *parse_forward(apr_pool_t *p, aiproxy_proto proto, const char *body,
                                      apr_size_t len, const aiproxy_route_info *route,
                                      aiproxy_error *err)
{
    aiproxy_request *req = apr_pcalloc(p, sizeof(*req));

    if (tr_forward_peek(p, body, len, route->content_type, &req->forward, &req->ir.model, err))
        return NULL;
    req->ir.proto = proto;
    req->ir.root = req->forward.root;
    req->ir.operation = AIPROXY_OP_FORWARD;
    req->body = body;
    req->len = len;
    return req;
}

/* The forwarded body with the target's model, to the target's path; the answer comes back
 * as it is. */
static int build_forward(apr_pool_t *p, const aiproxy_request *req, const aiproxy_target *target,
                         aiproxy_upstream_request *out, aiproxy_error *err)
{
    if (!target->path)
        return tr_error_set(err, 500, "no upstream path for a forwarded request");
    tr_forward_rewrite(p, &req->forward, req->body, req->len, req->ir.model, target->model,
                       &out->body, &out->len);
    out->proto = target->proto;
    out->path = target->path;
    out->query = NULL;
    out->accept = "*/*";
    out->upstream_stream = AIPROXY_STREAM_NONE;
    return 0;
}

/* A Gemini countTokens body is {"contents": ...} or {"generateContentRequest": {...}} (whose
 * system instruction and tools count too): the request to read is the inner one then. The
 * client's bytes still go unchanged to a Gemini upstream, which takes either form. */
static tr_jv *gemini_count_request(aiproxy_proto proto, aiproxy_operation operation, tr_jv *root)
{
    tr_jv *inner = tr_jv_get(root, "generateContentRequest");

    if (proto != AIPROXY_PROTO_GEMINI || operation != AIPROXY_OP_COUNT_TOKENS ||
        tr_jv_get(root, "contents") || !tr_jv_is_object(inner))
        return root;
    return inner;
}

aiproxy_request *aiproxy_request_parse(apr_pool_t *p, aiproxy_proto proto, const char *body,
                                       apr_size_t len, const aiproxy_route_info *route,
                                       aiproxy_error *err)
{
    aiproxy_operation operation = route ? route->operation : AIPROXY_OP_GENERATE;
    const tr_codec *codec = tr_codec_for_operation(proto, operation);
    aiproxy_request *req;
    tr_jv *root;
    int rc;

    if (!codec || !codec->request_peek) {
        tr_error_set(err, 500, "unknown client protocol");
        return NULL;
    }
    if (route && route->operation == AIPROXY_OP_FORWARD)
        return parse_forward(p, proto, body, len, route, err);
    root = tr_jv_parse(p, body, len, err);
    if (!root)
        return NULL;
    if (!tr_jv_is_object(root)) {
        tr_error_set(err, 400, "request body must be a JSON object");
        return NULL;
    }
    req = apr_pcalloc(p, sizeof(*req));
    req->ir.proto = proto;
    req->ir.root = gemini_count_request(proto, operation, root);
    req->body = body;
    req->len = len;
    req->ir.parallel_tool_calls = -1;
    req->ir.thinking = -1;
    req->ir.format_strict = -1;
    if (route) {
        req->ir.variant = route->variant;
        req->ir.operation = route->operation;
    }
    if (operation != AIPROXY_OP_EMBED)
        rc = codec->request_peek(p, &req->ir, route, err);
    else if (codec->embed)
        rc = codec->embed->peek(p, &req->ir, route, err);
    else
        rc = tr_error_set(err, 404, "this protocol has no embeddings");
    return rc ? NULL : req;
}

aiproxy_proto aiproxy_request_proto(const aiproxy_request *req)
{
    return req->ir.proto;
}

const char *aiproxy_request_model(const aiproxy_request *req)
{
    return req->ir.model;
}

aiproxy_stream_mode aiproxy_request_stream(const aiproxy_request *req)
{
    return req->ir.stream;
}

int aiproxy_request_wants_stream_usage(const aiproxy_request *req)
{
    return req->ir.include_usage;
}

aiproxy_operation aiproxy_request_operation(const aiproxy_request *req)
{
    return req->ir.operation;
}

unsigned aiproxy_request_embed_flags(const aiproxy_request *req)
{
    return req->ir.embed_flags;
}

/* The full IR of req, decoded on first use. */
static int request_ir(apr_pool_t *p, const aiproxy_request *creq, const tr_request **ir,
                      aiproxy_error *err)
{
    aiproxy_request *req = (aiproxy_request *) creq; /* lazily filled cache */
    const tr_codec *codec = tr_codec_for_operation(req->ir.proto, req->ir.operation);

    if (!req->decoded) {
        req->decoded = 1;
        req->decode_status = codec->request_decode(p, &req->ir, &req->decode_err);
    }
    if (req->decode_status) {
        *err = req->decode_err;
        return req->decode_status;
    }
    *ir = &req->ir;
    return 0;
}

/* Same protocol and the body's model (if it has one) already the upstream's: the client's
 * own bytes go out, with no copy and no serialization. */
static int passthrough_keeps_bytes(const aiproxy_request *req, const aiproxy_target *target)
{
    tr_jv *model = tr_jv_get(req->ir.root, "model");
    return !model || (tr_jv_is_string(model) && !strcmp(tr_jv_str_value(model), target->model));
}

static int build_passthrough(apr_pool_t *p, const aiproxy_request *req,
                             const aiproxy_target *target, tr_jv **body)
{
    const tr_codec *codec = tr_codec_for_operation(target->proto, req->ir.operation);
    /* Only the top level changes: a shallow copy of it shares every member with the client's
     * tree, which stays as parsed for later attempts. */
    tr_jv *copy = tr_jv_object(p);

    tr_jv_update_missing(copy, req->ir.root);

    codec->request_set_model(copy, target->model);
    *body = copy;
    return 0;
}

/* The body for target with thinking on at its defaults (ir: the request, saying nothing
 * about thinking). To another protocol it is the IR's encoding; to its own protocol, the
 * client's body with only the thinking members taken from that encoding, so what the IR does
 * not carry (or refuses to translate, as several candidates) goes out as sent. */
static int build_with_thinking(apr_pool_t *p, const aiproxy_request *req, const tr_request *ir,
                               const aiproxy_target *target, int same_stream, tr_jv **body,
                               aiproxy_error *err)
{
    const tr_codec *codec = tr_codec_for(target->proto);
    tr_request with_thinking = *ir;
    tr_jv *encoded = NULL;
    int rc;

    tr_thinking_apply_default(&with_thinking, target->proto);
    if (target->proto != req->ir.proto || !same_stream)
        return codec->request_encode(p, &with_thinking, target, body, err);
    with_thinking.n = 0; /* the candidates stay the client's: only thinking is taken */
    if ((rc = codec->request_encode(p, &with_thinking, target, &encoded, err)) != 0)
        return rc;
    build_passthrough(p, req, target, body);
    tr_thinking_overlay(p, *body, encoded, target->proto);
    return 0;
}

/* The body for target (already the dialect's effective target): the client's bytes, a
 * shallow copy with the model replaced, or the IR encoded for another protocol. *body stays
 * NULL when the client's bytes go out unchanged (only when must_reshape is 0). */
static int build_body(apr_pool_t *p, const aiproxy_request *req, const aiproxy_target *target,
                      int stream_in_body, int must_reshape, tr_jv **body, aiproxy_error *err)
{
    const tr_codec *codec = tr_codec_for_operation(target->proto, req->ir.operation);
    const tr_request *ir = NULL;
    /* Passthrough only when nothing but the model changes: a must-stream target flips the
     * stream flag, which goes through the IR like any translation, unless a dialect's rules
     * write the flag into the body themselves. */
    int same_stream = stream_in_body || !!target->stream == (req->ir.stream != AIPROXY_STREAM_NONE);
    int rc;

    /* Thinking asked for by the model name, and the request silent about it: the body goes
     * through the IR with the target's defaults (a copy: later attempts start from the
     * request as the client sent it). A body the IR cannot read goes out as it would have. */
    if (target->thinking && request_ir(p, req, &ir, err) == 0 && !tr_thinking_explicit(ir))
        return build_with_thinking(p, req, ir, target, same_stream, body, err);
    if (target->proto == req->ir.proto && same_stream) {
        if (!must_reshape && passthrough_keeps_bytes(req, target))
            return 0;
        return build_passthrough(p, req, target, body);
    }
    rc = request_ir(p, req, &ir, err);
    return rc ? rc : codec->request_encode(p, ir, target, body, err);
}

/* A token count for target: the client's body when the upstream counts in the client's
 * protocol, else a generation body encoded from the IR and cut down to the count request. */
static int build_count(apr_pool_t *p, const aiproxy_request *req, const aiproxy_target *target,
                       aiproxy_upstream_request *out, aiproxy_error *err)
{
    aiproxy_target count = *target;
    const tr_codec *codec;
    tr_jv *body = NULL;
    int rc = 0;

    count.proto = tr_codec_for(target->proto)->count_via;
    count.stream = 0;
    codec = tr_codec_for(count.proto);
    if (!codec->count_path)
        return tr_error_set(err, 400,
                            apr_psprintf(p, "the %s upstream has no token count endpoint",
                                         aiproxy_proto_name(target->proto)));
    if (count.proto == req->ir.proto && passthrough_keeps_bytes(req, &count)) {
        out->body = req->body;
        out->len = req->len;
    } else if (count.proto == req->ir.proto) {
        rc = build_passthrough(p, req, &count, &body);
    } else {
        const tr_request *ir = NULL;
        rc = request_ir(p, req, &ir, err);
        if (rc == 0)
            rc = codec->request_encode(p, ir, &count, &body, err);
        if (rc == 0)
            body = codec->count_body(p, body, count.model);
    }
    if (rc)
        return rc;
    if (body)
        out->body = tr_jv_dump(p, body, &out->len);
    out->proto = count.proto;
    out->path = codec->count_path(p, count.model);
    out->query = NULL;
    out->accept = "application/json";
    out->upstream_stream = AIPROXY_STREAM_NONE;
    return 0;
}

/* What the upstream is asked to answer in: its framing's media type. */
static const char *accept_for(aiproxy_stream_mode framing)
{
    switch (framing) {
    case AIPROXY_STREAM_NONE:
        return "application/json";
    case AIPROXY_STREAM_EVENTSTREAM:
        return "application/vnd.amazon.eventstream";
    default:
        return "text/event-stream";
    }
}

/* Embeddings for target: the client's body (model changed) in its own protocol, else its
 * texts and options in the target's form; 501 where the target's protocol has none, or its
 * subscription backend (a dialect) serves generations only. */
static int build_embed(apr_pool_t *p, const aiproxy_request *req, const aiproxy_target *target,
                       aiproxy_upstream_request *out, aiproxy_error *err)
{
    const tr_embed_format *to = tr_codec_for(target->proto)->embed;
    const tr_embed_format *from = tr_codec_for(req->ir.proto)->embed;
    const tr_dialect *dialect = tr_dialect_for(target->dialect);
    tr_embed_request texts;
    tr_jv *body = NULL;

    if (to && dialect)
        return tr_error_set(err, 501,
                            apr_psprintf(p,
                                         "embeddings cannot be sent to a %s upstream: its "
                                         "backend serves generations only",
                                         tr_dialect_name(dialect)));
    if (!to)
        return tr_error_set(err, 501,
                            apr_psprintf(p,
                                         "embeddings cannot be expressed in the %s API: no "
                                         "upstream of this model can serve them",
                                         aiproxy_proto_name(target->proto)));
    if (target->proto == req->ir.proto && !strcmp(target->model, req->ir.model)) {
        out->body = req->body;
        out->len = req->len;
    } else {
        if (target->proto == req->ir.proto) {
            body = tr_jv_object(p);
            tr_jv_update_missing(body, req->ir.root);
            to->set_model(p, body, target->model);
        } else if (from->decode(p, &req->ir, &texts, err))
            return err->status;
        else
            body = to->encode(p, &texts, target->model);
        out->body = tr_jv_dump(p, body, &out->len);
    }
    out->proto = target->proto;
    out->path = to->path(p, target->model, req->ir.embed_flags);
    out->query = NULL;
    out->accept = "application/json";
    out->upstream_stream = AIPROXY_STREAM_NONE;
    return 0;
}

int aiproxy_request_build(apr_pool_t *p, const aiproxy_request *req, const aiproxy_target *target,
                          aiproxy_upstream_request *out, aiproxy_error *err)
{
    const tr_codec *codec = tr_codec_for_operation(target->proto, req->ir.operation);
    const tr_dialect *dialect = tr_dialect_for(target->dialect);
    const char *variant = req->ir.proto == target->proto ? req->ir.variant : NULL;
    aiproxy_target effective;
    tr_jv *body = NULL;
    int rc;

    out->tool_names = NULL; /* only a generation's answer may call tools */
    if (!codec)
        return tr_error_set(err, 500, "unknown upstream protocol");
    if (req->ir.operation == AIPROXY_OP_COUNT_TOKENS && !tr_dialect_counts_tokens(dialect))
        return tr_error_set(err, 400,
                            apr_psprintf(p, "the %s upstream counts no tokens for the gateway",
                                         tr_dialect_name(dialect)));
    if (req->ir.operation == AIPROXY_OP_COUNT_TOKENS)
        return build_count(p, req, target, out, err);
    if (req->ir.operation == AIPROXY_OP_EMBED)
        return build_embed(p, req, target, out, err);
    if (req->ir.operation == AIPROXY_OP_FORWARD)
        return build_forward(p, req, target, out, err);
    /* An endpoint variant (Responses /compact) is its protocol's own operation: another
     * protocol would run a plain generation instead. */
    if (req->ir.variant && target->proto != req->ir.proto)
        return tr_error_set(err, 400,
                            apr_psprintf(p,
                                         "the '%s' endpoint exists only in the %s API: the %s "
                                         "upstream has no equivalent",
                                         req->ir.variant, aiproxy_proto_name(req->ir.proto),
                                         aiproxy_proto_name(target->proto)));
    if ((rc = tr_dialect_prepare(p, dialect, target, variant, &effective, err)))
        return rc;
    if (codec->always_streams)
        effective.stream = 1;
    if ((rc = build_body(p, req, &effective, tr_dialect_writes_stream(dialect), dialect != NULL,
                         &body, err)) ||
        (rc = tr_dialect_shape_body(p, dialect, &effective, &body, err)))
        return rc;
    if (body)
        out->body = tr_jv_dump(p, body, &out->len);
    else {
        out->body = req->body;
        out->len = req->len;
    }
    codec->request_path(p, &effective, variant, &out->path, &out->query);
    tr_dialect_endpoint(p, dialect, &out->path, &out->query);
    out->proto = effective.proto;
    out->upstream_stream = !effective.stream       ? AIPROXY_STREAM_NONE
                           : codec->stream_framing ? codec->stream_framing
                                                   : AIPROXY_STREAM_SSE;
    out->accept = accept_for(out->upstream_stream);
    /* A translated body offered the upstream the IR's tools: the answer may call them. */
    if (req->decoded && !req->decode_status && body)
        out->tool_names = tr_req_callable_tool_names(p, &req->ir);
    return 0;
}
