/* codec/tr_response_util.c: see codec/tr_response_util.h. */
#include <string.h>
#include "apr_general.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_time.h"
#include "json/tr_jv.h"
#include "codec/tr_response_util.h"
#include "tr_error.h"

apr_status_t tr_emit_block_start(const tr_emitter *e, int index, tr_block_kind kind, const char *id,
                                 const char *name)
{
    tr_event ev = {.kind = TR_EV_BLOCK_START, .index = index, .block_kind = kind};
    ev.id = id;
    ev.name = name;
    return e->fn(e->baton, &ev);
}

apr_status_t tr_emit_delta(const tr_emitter *e, int index, tr_delta_kind kind, const char *text,
                           apr_size_t len)
{
    tr_event ev = {.kind = TR_EV_BLOCK_DELTA, .index = index, .delta_kind = kind};
    ev.text = text;
    ev.len = len;
    return e->fn(e->baton, &ev);
}

apr_status_t tr_emit_signature(const tr_emitter *e, int index, const char *signature,
                               aiproxy_proto sig_proto)
{
    tr_event ev = {.kind = TR_EV_BLOCK_DELTA, .index = index, .delta_kind = TR_DELTA_SIGNATURE};
    ev.text = signature;
    ev.len = strlen(signature);
    ev.sig_proto = sig_proto;
    return e->fn(e->baton, &ev);
}

apr_status_t tr_emit_block_stop(const tr_emitter *e, int index, tr_block_kind kind)
{
    tr_event ev = {.kind = TR_EV_BLOCK_STOP, .index = index, .block_kind = kind};
    return e->fn(e->baton, &ev);
}

apr_status_t tr_emit_message_start(const tr_emitter *e, const char *id, const char *model,
                                   long long created, const tr_usage *usage)
{
    tr_event ev = {.kind = TR_EV_MESSAGE_START};
    ev.id = id;
    ev.model = model;
    ev.created = created;
    if (usage)
        ev.usage = *usage;
    return e->fn(e->baton, &ev);
}

apr_status_t tr_emit_message_end(const tr_emitter *e, tr_stop stop, const char *stop_raw,
                                 const char *stop_sequence, const tr_usage *usage)
{
    tr_event delta = {.kind = TR_EV_MESSAGE_DELTA}, end = {.kind = TR_EV_MESSAGE_STOP};
    apr_status_t rv;

    delta.stop = stop;
    delta.stop_raw = stop_raw;
    delta.stop_sequence = stop_sequence;
    if (usage)
        delta.usage = *usage;
    if ((rv = e->fn(e->baton, &delta)) != APR_SUCCESS)
        return rv;
    return e->fn(e->baton, &end);
}

apr_status_t tr_emit_error(const tr_emitter *e, const aiproxy_error *err)
{
    tr_event ev = {.kind = TR_EV_ERROR};
    ev.error = *err;
    return e->fn(e->baton, &ev);
}

/* Error words of all four protocols -> HTTP status. */
static const struct {
    const char *word;
    int status;
} error_word_status[] = {
    {"invalid_request_error", 400}, {"INVALID_ARGUMENT", 400},   {"FAILED_PRECONDITION", 400},
    {"authentication_error", 401},  {"UNAUTHENTICATED", 401},    {"invalid_api_key", 401},
    {"billing_error", 402},         {"permission_error", 403},   {"PERMISSION_DENIED", 403},
    {"not_found_error", 404},       {"NOT_FOUND", 404},          {"model_not_found", 404},
    {"request_too_large", 413},     {"rate_limit_error", 429},   {"rate_limit_exceeded", 429},
    {"insufficient_quota", 429},    {"RESOURCE_EXHAUSTED", 429}, {"api_error", 500},
    {"server_error", 500},          {"INTERNAL", 500},           {"UNAVAILABLE", 503},
    {"service_unavailable", 503},   {"timeout_error", 504},      {"DEADLINE_EXCEEDED", 504},
    {"overloaded_error", 529},      {"overloaded", 529},
};

static int status_for_word(const char *word)
{
    for (size_t i = 0; word && i < sizeof(error_word_status) / sizeof(error_word_status[0]); i++) {
        if (!strcmp(error_word_status[i].word, word))
            return error_word_status[i].status;
    }
    return 0;
}

void tr_resp_error_from_json(apr_pool_t *p, const tr_jv *error, aiproxy_error *err)
{
    long long code = 0;
    const char *message = NULL, *type = NULL;
    int status = 0;

    if (tr_jv_is_string(error))
        message = tr_jv_str_value(error);
    else if (tr_jv_is_object(error)) {
        message = tr_jv_get_str(error, "message");
        type = tr_jv_get_str(error, "type");
        if (tr_jv_get_int(error, "code", &code) && code >= 400 && code <= 599)
            status = (int) code;
        if (!status)
            status = status_for_word(tr_jv_get_str(error, "status"));
        if (!status) /* OpenAI's code is more specific than its type */
            status = status_for_word(tr_jv_get_str(error, "code"));
        if (!status)
            status = status_for_word(type);
    }
    /* No code: the status speaks for the upstream's error. */
    tr_error_set(err, status ? status : 500,
                 apr_pstrdup(p, message ? message : "the upstream reported an error"));
    if (type)
        err->type = apr_pstrdup(p, type); /* the upstream's own word */
}

tr_jv *tr_resp_parse(apr_pool_t *scratch, const char *data, apr_size_t len)
{
    aiproxy_error ignored;
    return tr_jv_parse(scratch, data, len, &ignored);
}

apr_status_t tr_resp_parse_event(apr_pool_t *scratch, const char *data, apr_size_t len,
                                 tr_jv **root)
{
    apr_size_t i = 0;

    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
        i++;
    *root = i < len ? tr_resp_parse(scratch, data, len) : NULL;
    return i < len && !*root ? TR_STATUS_BAD_EVENT : APR_SUCCESS;
}

const char *tr_resp_safe_id(apr_pool_t *p, const char *id)
{
    char *out = apr_pstrdup(p, id);
    for (char *c = out; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '-')
            *c = '_';
    }
    return out;
}

const char *tr_resp_random_hex(apr_pool_t *p)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[12];
    char *out = apr_palloc(p, sizeof(bytes) * 2 + 1);

    if (apr_generate_random_bytes(bytes, sizeof(bytes)) != APR_SUCCESS) {
        /* No entropy source: time and address still make ids unique enough per process. */
        apr_time_t now = apr_time_now();
        memcpy(bytes, &now, sizeof(now) < sizeof(bytes) ? sizeof(now) : sizeof(bytes));
    }
    for (size_t i = 0; i < sizeof(bytes); i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[sizeof(bytes) * 2] = '\0';
    return out;
}

const char *tr_resp_prefixed_id(apr_pool_t *p, const char *prefix, const char *upstream_id)
{
    if (!upstream_id || !*upstream_id)
        return apr_pstrcat(p, prefix, tr_resp_random_hex(p), NULL);
    if (!strncmp(upstream_id, prefix, strlen(prefix)))
        return upstream_id;
    return apr_pstrcat(p, prefix, tr_resp_safe_id(p, upstream_id), NULL);
}

const char *tr_resp_model(const aiproxy_response_spec *spec, const char *upstream_model)
{
    if (spec && spec->client_model && *spec->client_model)
        return spec->client_model;
    return upstream_model ? upstream_model : "";
}

long long tr_resp_now(void)
{
    return (long long) apr_time_sec(apr_time_now());
}

int tr_resp_sse(tr_buf *out, const char *name, const char *json, apr_size_t len)
{
    int rc = 0;
    if (name) {
        rc |= tr_buf_add(out, "event: ", 7);
        rc |= tr_buf_adds(out, name);
        rc |= tr_buf_add(out, "\n", 1);
    }
    rc |= tr_buf_add(out, "data: ", 6);
    rc |= tr_buf_add(out, json, len);
    rc |= tr_buf_add(out, "\n\n", 2);
    return rc;
}

int tr_resp_sse_json(tr_buf *out, const char *name, const tr_jv *value)
{
    int rc = 0;

    if (!value)
        return -1;
    if (name) {
        rc |= tr_buf_add(out, "event: ", 7);
        rc |= tr_buf_adds(out, name);
        rc |= tr_buf_add(out, "\n", 1);
    }
    rc |= tr_buf_add(out, "data: ", 6);
    rc |= tr_jv_write(out, value);
    rc |= tr_buf_add(out, "\n\n", 2);
    return rc;
}

apr_status_t tr_named_event_dispatch(const tr_named_event *table, size_t n, tr_stream_decoder *d,
                                     const tr_jv *root, const char *event, const tr_emitter *e)
{
    const char *type = tr_jv_get_str(root, "type") ? tr_jv_get_str(root, "type") : event;

    if (!tr_jv_is_object(root) || !type)
        return APR_SUCCESS;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(table[i].type, type))
            return table[i].handle(d, root, e);
    }
    return APR_SUCCESS;
}
