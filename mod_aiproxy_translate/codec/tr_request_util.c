/* codec/tr_request_util.c: see codec/tr_request_util.h. */
#include <stdarg.h>
#include <string.h>
#include "apr_hash.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "json/tr_jv.h"
#include "codec/tr_request_util.h"
#include "tr_error.h"

/* ---- typed reads ---------------------------------------------------------------------------- */

void tr_rd_init(tr_rd *rd, apr_pool_t *p, aiproxy_error *err)
{
    rd->p = p;
    rd->err = err;
    rd->failed = 0;
}

static int rd_vfail(tr_rd *rd, const char *fmt, va_list ap)
{
    if (!rd->failed) {
        rd->failed = 1;
        tr_error_set(rd->err, 400, apr_pvsprintf(rd->p, fmt, ap));
    }
    return 400;
}

int tr_rd_fail(tr_rd *rd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rd_vfail(rd, fmt, ap);
    va_end(ap);
    return 400;
}

/* "'<where>.<key>' must be <what>", built only when a read fails. */
static void rd_type_error(tr_rd *rd, const char *key, const char *what, const char *where,
                          va_list ap)
{
    const char *path = apr_pvsprintf(rd->p, where, ap);
    tr_rd_fail(rd, "'%s%s%s' must be %s", path, *path ? "." : "", key, what);
}

/* The value at key when it is there and not null (and no earlier read failed). */
static tr_jv *rd_value(tr_rd *rd, const tr_jv *obj, const char *key)
{
    tr_jv *v;
    if (rd->failed || !tr_jv_is_object(obj))
        return NULL;
    v = tr_jv_get(obj, key);
    return tr_jv_is_null(v) ? NULL : v;
}

#define RD_TYPED(v, test, what)                                                                    \
    do {                                                                                           \
        if (v && !(test)) {                                                                        \
            va_list ap;                                                                            \
            va_start(ap, where);                                                                   \
            rd_type_error(rd, key, what, where, ap);                                               \
            va_end(ap);                                                                            \
            v = NULL;                                                                              \
        }                                                                                          \
    } while (0)

const char *tr_rd_str(tr_rd *rd, const tr_jv *obj, const char *key, const char *where, ...)
{
    tr_jv *v = rd_value(rd, obj, key);
    RD_TYPED(v, tr_jv_is_string(v), "a string");
    return tr_jv_str_value(v);
}

tr_jv *tr_rd_obj(tr_rd *rd, const tr_jv *obj, const char *key, const char *where, ...)
{
    tr_jv *v = rd_value(rd, obj, key);
    RD_TYPED(v, tr_jv_is_object(v), "an object");
    return v;
}

tr_jv *tr_rd_arr(tr_rd *rd, const tr_jv *obj, const char *key, const char *where, ...)
{
    tr_jv *v = rd_value(rd, obj, key);
    RD_TYPED(v, tr_jv_is_array(v), "an array");
    return v;
}

int tr_rd_num(tr_rd *rd, const tr_jv *obj, const char *key, double *out, const char *where, ...)
{
    tr_jv *v = rd_value(rd, obj, key);
    RD_TYPED(v, tr_jv_is_number(v), "a number");
    if (!v)
        return 0;
    *out = tr_jv_number_value(v);
    return 1;
}

int tr_rd_int(tr_rd *rd, const tr_jv *obj, const char *key, long *out, const char *where, ...)
{
    tr_jv *v = rd_value(rd, obj, key);
    /* Clients write 1024.0 now and then; accept whole reals in the long range. */
    RD_TYPED(v,
             tr_jv_is_integer(v) ||
                 (tr_jv_is_real(v) && tr_jv_number_value(v) >= -2147483648.0 &&
                  tr_jv_number_value(v) <= 2147483647.0 &&
                  tr_jv_number_value(v) == (double) (long) tr_jv_number_value(v)),
             "an integer");
    if (!v)
        return 0;
    *out = tr_jv_is_integer(v) ? (long) tr_jv_int_value(v) : (long) tr_jv_number_value(v);
    return 1;
}

int tr_rd_bool(tr_rd *rd, const tr_jv *obj, const char *key, int *out, const char *where, ...)
{
    tr_jv *v = rd_value(rd, obj, key);
    RD_TYPED(v, tr_jv_is_bool(v), "a boolean");
    if (!v)
        return 0;
    *out = tr_jv_is_true(v);
    return 1;
}

void tr_rd_real_into(tr_rd *rd, const tr_jv *obj, const char *key, double *value, int *has,
                     const char *where)
{
    if (tr_rd_num(rd, obj, key, value, "%s", where))
        *has = 1;
}

void tr_req_read_stream_function_call_arguments(tr_rd *rd, tr_request *req)
{
    tr_jv *fcc = tr_rd_obj(rd, tr_rd_obj(rd, req->root, "toolConfig", ""), "functionCallingConfig",
                           "toolConfig");
    int on = 0;

    if (tr_rd_bool(rd, fcc, "streamFunctionCallArguments", &on, "toolConfig.functionCallingConfig"))
        req->stream_tool_arguments = on;
}

int tr_req_inexpressible(apr_pool_t *p, aiproxy_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tr_error_set(err, 400, apr_pvsprintf(p, fmt, ap));
    va_end(ap);
    return 400;
}

/* ---- IR building ---------------------------------------------------------------------------- */

apr_array_header_t *tr_req_blocks(apr_pool_t *p)
{
    return apr_array_make(p, 4, sizeof(tr_block *));
}

tr_message *tr_req_add_message(apr_pool_t *p, tr_request *req, tr_role role)
{
    tr_message *m = apr_pcalloc(p, sizeof(*m));
    m->role = role;
    m->blocks = tr_req_blocks(p);
    if (!req->messages)
        req->messages = apr_array_make(p, 16, sizeof(tr_message *));
    APR_ARRAY_PUSH(req->messages, tr_message *) = m;
    return m;
}

tr_message *tr_req_last_or_add(apr_pool_t *p, tr_request *req, tr_role role)
{
    if (req->messages && req->messages->nelts) {
        tr_message *last = APR_ARRAY_IDX(req->messages, req->messages->nelts - 1, tr_message *);
        if (last->role == role)
            return last;
    }
    return tr_req_add_message(p, req, role);
}

tr_block *tr_req_add_block(apr_pool_t *p, apr_array_header_t *blocks, tr_block_kind kind)
{
    tr_block *b = apr_pcalloc(p, sizeof(*b));
    b->kind = kind;
    APR_ARRAY_PUSH(blocks, tr_block *) = b;
    return b;
}

tr_block *tr_req_add_text(apr_pool_t *p, apr_array_header_t *blocks, const char *text)
{
    tr_block *b = tr_req_add_block(p, blocks, TR_BLOCK_TEXT);
    b->text = text ? text : "";
    return b;
}

tr_tool *tr_req_add_tool(apr_pool_t *p, tr_request *req)
{
    tr_tool *t = apr_pcalloc(p, sizeof(*t));
    t->strict = -1;
    if (!req->tools)
        req->tools = apr_array_make(p, 8, sizeof(tr_tool *));
    APR_ARRAY_PUSH(req->tools, tr_tool *) = t;
    return t;
}

void tr_req_add_stop(apr_pool_t *p, tr_request *req, const char *stop)
{
    if (!req->stop)
        req->stop = apr_array_make(p, 4, sizeof(const char *));
    APR_ARRAY_PUSH(req->stop, const char *) = stop;
}

void tr_req_add_allowed_tool(apr_pool_t *p, tr_request *req, const char *name)
{
    if (!req->tool_choice_allowed)
        req->tool_choice_allowed = apr_array_make(p, 4, sizeof(const char *));
    APR_ARRAY_PUSH(req->tool_choice_allowed, const char *) = name;
}

void tr_req_resolve_result_names(apr_pool_t *p, tr_request *req)
{
    apr_hash_t *names = NULL;

    for (int i = 0; req->messages && i < req->messages->nelts; i++) {
        tr_message *m = APR_ARRAY_IDX(req->messages, i, tr_message *);
        for (int j = 0; j < m->blocks->nelts; j++) {
            tr_block *b = APR_ARRAY_IDX(m->blocks, j, tr_block *);
            if (b->kind == TR_BLOCK_TOOL_CALL && b->id && b->name) {
                if (!names)
                    names = apr_hash_make(p);
                apr_hash_set(names, b->id, APR_HASH_KEY_STRING, b->name);
            } else if (b->kind == TR_BLOCK_TOOL_RESULT && !b->name && b->tool_call_id && names)
                b->name = apr_hash_get(names, b->tool_call_id, APR_HASH_KEY_STRING);
        }
    }
}

/* ---- IR queries ----------------------------------------------------------------------------- */

apr_array_header_t *tr_req_hoisted_system(apr_pool_t *p, const tr_request *req)
{
    apr_array_header_t *out = tr_req_blocks(p);

    if (req->system)
        apr_array_cat(out, req->system);
    for (int i = 0; req->messages && i < req->messages->nelts; i++) {
        tr_message *m = APR_ARRAY_IDX(req->messages, i, tr_message *);
        if (m->role != TR_ROLE_SYSTEM)
            continue;
        for (int j = 0; j < m->blocks->nelts; j++) {
            tr_block *b = APR_ARRAY_IDX(m->blocks, j, tr_block *);
            if (b->kind == TR_BLOCK_TEXT)
                APR_ARRAY_PUSH(out, tr_block *) = b;
        }
    }
    return out;
}

const char *tr_req_join_text(apr_pool_t *p, const apr_array_header_t *blocks, tr_block_kind kind,
                             const char *sep)
{
    apr_size_t total = 0, seplen = strlen(sep), n = 0;
    char *out, *o;

    for (int i = 0; blocks && i < blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(blocks, i, const tr_block *);
        if (b->kind == kind && b->text)
            total += strlen(b->text) + (n++ ? seplen : 0);
    }
    o = out = apr_palloc(p, total + 1);
    n = 0;
    for (int i = 0; blocks && i < blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(blocks, i, const tr_block *);
        if (b->kind != kind || !b->text)
            continue;
        if (n++) {
            memcpy(o, sep, seplen);
            o += seplen;
        }
        apr_size_t len = strlen(b->text);
        memcpy(o, b->text, len);
        o += len;
    }
    *o = '\0';
    return out;
}

int tr_req_tool_allowed(const tr_request *req, const char *name)
{
    if (!req->tool_choice_allowed)
        return 1;
    for (int i = 0; name && i < req->tool_choice_allowed->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(req->tool_choice_allowed, i, const char *), name))
            return 1;
    }
    return 0;
}

int tr_req_tool_callable(const tr_request *req, const tr_tool *t)
{
    return req->tool_choice != TR_TOOL_CHOICE_NONE && (!t->type || !strcmp(t->type, "function")) &&
           t->name && *t->name && tr_req_tool_allowed(req, t->name);
}

apr_array_header_t *tr_req_callable_tool_names(apr_pool_t *p, const tr_request *req)
{
    apr_array_header_t *names = NULL;

    for (int i = 0; req->tools && i < req->tools->nelts; i++) {
        const tr_tool *t = APR_ARRAY_IDX(req->tools, i, const tr_tool *);
        if (!tr_req_tool_callable(req, t))
            continue;
        if (!names)
            names = apr_array_make(p, req->tools->nelts, sizeof(const char *));
        APR_ARRAY_PUSH(names, const char *) = t->name;
    }
    return names;
}

int tr_req_signed_by(const tr_block *b, aiproxy_proto proto)
{
    return b->has_signature && b->signature && *b->signature && b->sig_proto == proto;
}

int tr_req_check_server_state(apr_pool_t *p, const tr_request *req, aiproxy_proto target_proto,
                              aiproxy_error *err)
{
    if (!req->server_state_field || req->proto == target_proto)
        return 0;
    return tr_req_inexpressible(p, err,
                                "'%s' refers to conversation state stored by the %s API; it "
                                "cannot be sent to the %s upstream: send the full conversation "
                                "instead",
                                req->server_state_field, aiproxy_proto_name(req->proto),
                                aiproxy_proto_name(target_proto));
}

int tr_req_check_single_answer(apr_pool_t *p, const tr_request *req, aiproxy_proto target_proto,
                               aiproxy_error *err)
{
    if (req->n <= 1)
        return 0;
    return tr_req_inexpressible(p, err,
                                "%ld candidates requested ('n'/'candidateCount'): translated for "
                                "the %s upstream, an answer holds one candidate",
                                req->n, aiproxy_proto_name(target_proto));
}

/* Which store a file id belongs to: both OpenAI protocols share one. */
static int file_store(aiproxy_proto proto)
{
    return proto == AIPROXY_PROTO_RESPONSES ? AIPROXY_PROTO_OPENAI : proto;
}

int tr_req_check_file_id(apr_pool_t *p, const tr_request *req, const tr_block *b,
                         aiproxy_proto target_proto, aiproxy_error *err)
{
    if (!b->file_id || file_store(req->proto) == file_store(target_proto))
        return 0;
    return tr_req_inexpressible(p, err,
                                "file_id '%s' names a file uploaded to the %s API; the %s upstream "
                                "cannot read it: send the content inline",
                                b->file_id, aiproxy_proto_name(req->proto),
                                aiproxy_proto_name(target_proto));
}

/* ---- word tables ---------------------------------------------------------------------------- */

const tr_req_word tr_req_openai_tool_choices[] = {{TR_TOOL_CHOICE_AUTO, "auto"},
                                                  {TR_TOOL_CHOICE_ANY, "required"},
                                                  {TR_TOOL_CHOICE_NONE, "none"},
                                                  {0, NULL}};

const tr_req_word tr_req_openai_formats[] = {{TR_FORMAT_TEXT, "text"},
                                             {TR_FORMAT_JSON_OBJECT, "json_object"},
                                             {TR_FORMAT_JSON_SCHEMA, "json_schema"},
                                             {0, NULL}};

int tr_req_word_value(const tr_req_word *table, const char *word, int dflt)
{
    for (; word && table->word; table++) {
        if (!strcmp(table->word, word))
            return table->value;
    }
    return dflt;
}

const char *tr_req_value_word(const tr_req_word *table, int value)
{
    for (; table->word; table++) {
        if (table->value == value)
            return table->word;
    }
    return NULL;
}

/* ---- thinking effort ------------------------------------------------------------------------ */

/* One row per IR effort: the token budget it stands for (Anthropic budget_tokens, Gemini
 * thinkingBudget) and the nearest Anthropic effort word. Budgets follow the providers'
 * published ranges: 1024 is Anthropic's minimum, 32768 Gemini 2.5 Pro's maximum. */
static const struct {
    const char *effort;
    long budget;
    const char *anthropic;
} efforts[] = {
    {"none", 0, NULL},           {"minimal", 1024, "low"}, {"low", 4096, "low"},
    {"medium", 12288, "medium"}, {"high", 24576, "high"},  {"xhigh", 32768, "max"},
};
#define EFFORT_COUNT (sizeof(efforts) / sizeof(efforts[0]))

long tr_req_effort_budget(const char *effort)
{
    for (size_t i = 0; effort && i < EFFORT_COUNT; i++) {
        if (!strcmp(efforts[i].effort, effort))
            return efforts[i].budget;
    }
    return 0;
}

const char *tr_req_budget_effort(long budget)
{
    /* "minimal" is skipped on purpose: few reasoning models accept it, all accept "low". */
    if (budget <= 0)
        return NULL;
    if (budget <= efforts[2].budget)
        return "low";
    if (budget <= efforts[3].budget)
        return "medium";
    if (budget <= efforts[4].budget)
        return "high";
    return "xhigh";
}

const char *tr_req_effort_word(aiproxy_proto proto, const char *ir_effort)
{
    for (size_t i = 0; ir_effort && i < EFFORT_COUNT; i++) {
        if (!strcmp(efforts[i].effort, ir_effort))
            return proto == AIPROXY_PROTO_ANTHROPIC ? efforts[i].anthropic : efforts[i].effort;
    }
    return NULL;
}

const char *tr_req_effort_from(aiproxy_proto proto, const char *word)
{
    if (word && proto == AIPROXY_PROTO_ANTHROPIC && !strcmp(word, "max"))
        return "xhigh";
    return word;
}

/* ---- JSON building -------------------------------------------------------------------------- */

void tr_req_set_copy(tr_jv *obj, const char *key, const tr_jv *v)
{
    if (v && tr_jv_is_object(obj))
        tr_jv_set(obj, key, tr_jv_copy(obj->u.obj.p, v));
}

void tr_req_drop_empty(tr_jv *obj, const char *key)
{
    tr_jv *v = tr_jv_get(obj, key);
    if ((tr_jv_is_array(v) || tr_jv_is_object(v)) && tr_jv_size(v) == 0)
        tr_jv_del(obj, key);
}

int tr_req_finish_body(tr_jv *body, int status, tr_jv **out)
{
    *out = status ? NULL : body;
    return status;
}

static int key_skipped(const char *const *skip, const char *key)
{
    for (; skip && *skip; skip++) {
        if (!strcmp(*skip, key))
            return 1;
    }
    return 0;
}

void tr_req_keep_unclaimed(tr_jv *body, const tr_jv *root, const char *const *skip)
{
    apr_size_t i, j;
    const char *key, *sub;
    tr_jv *value, *subvalue;

    tr_jv_object_foreach(root, i, key, value)
    {
        tr_jv *mine = tr_jv_get(body, key);
        if (key_skipped(skip, key))
            continue;
        if (!mine)
            tr_req_set_copy(body, key, value);
        else if (tr_jv_is_object(mine) && tr_jv_is_object(value)) {
            tr_jv_object_foreach(value, j, sub, subvalue)
            {
                if (!tr_jv_get(mine, sub))
                    tr_req_set_copy(mine, sub, subvalue);
            }
        }
    }
}

/* ---- payloads ------------------------------------------------------------------------------- */

int tr_req_parse_data_uri(apr_pool_t *p, const char *uri, const char **media_type,
                          const char **data)
{
    const char *comma, *semi;

    if (!uri || strncasecmp(uri, "data:", 5) != 0)
        return 0;
    comma = strchr(uri + 5, ',');
    if (!comma)
        return 0;
    /* The payload must be base64: ";base64" ends the parameters. */
    semi = comma - 7;
    if (semi < uri + 5 || strncasecmp(semi, ";base64", 7) != 0)
        return 0;
    {
        const char *end = memchr(uri + 5, ';', (apr_size_t) (semi - (uri + 5)) + 1);
        *media_type = apr_pstrmemdup(p, uri + 5, (apr_size_t) (end - (uri + 5)));
    }
    if (!**media_type)
        *media_type = "application/octet-stream";
    *data = comma + 1;
    return 1;
}

const char *tr_req_data_uri(apr_pool_t *p, const char *media_type, const char *data)
{
    return apr_pstrcat(p, "data:", media_type ? media_type : "application/octet-stream", ";base64,",
                       data ? data : "", NULL);
}

static const struct {
    const char *ext;
    const char *media_type;
} url_types[] = {
    {".png", "image/png"},  {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},  {".webp", "image/webp"}, {".pdf", "application/pdf"},
    {".txt", "text/plain"}, {".heic", "image/heic"}, {".heif", "image/heif"},
};

const char *tr_req_media_type_from_url(const char *url, const char *dflt)
{
    const char *end;
    apr_size_t len;

    if (!url)
        return dflt;
    /* The extension of the path: stop at the query or fragment. */
    end = url + strcspn(url, "?#");
    len = (apr_size_t) (end - url);
    for (size_t i = 0; i < sizeof(url_types) / sizeof(url_types[0]); i++) {
        apr_size_t elen = strlen(url_types[i].ext);
        if (len >= elen && !strncasecmp(end - elen, url_types[i].ext, elen))
            return url_types[i].media_type;
    }
    return dflt;
}

int tr_req_is_image_type(const char *media_type)
{
    return media_type && !strncasecmp(media_type, "image/", 6);
}

tr_jv *tr_req_arguments_object(apr_pool_t *p, const char *arguments)
{
    tr_jv *v = NULL;
    aiproxy_error ignored;

    if (arguments && *arguments)
        v = tr_jv_parse(p, arguments, strlen(arguments), &ignored);
    /* Models now and then stream broken JSON; an object is all the targets accept. */
    return tr_jv_is_object(v) ? v : tr_jv_object(p);
}

const char *tr_req_json_text(apr_pool_t *p, const tr_jv *v)
{
    return v ? tr_jv_dump(p, v, NULL) : "{}";
}

const char *tr_req_safe_id(apr_pool_t *p, const char *id)
{
    char *copy;

    if (!id)
        return NULL;
    if (id[strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] == '\0')
        return id;
    copy = apr_pstrdup(p, id);
    for (char *c = copy; *c; c++) {
        if (!apr_isalnum((unsigned char) *c) && *c != '_' && *c != '-')
            *c = '_';
    }
    return copy;
}
