/*
 * pipeline/tr_dialect.c: the dialect table (one row of data per subscription backend) and the
 * one mechanism that applies any row to a request body.
 *
 * A rule is an operation on one top-level field of the body. The operations are generic
 * (set, default, remove, refuse) or name the shape they work on (a Responses input string, an
 * Anthropic system prompt); the rows only choose operations, fields and values, so a new
 * backend is a new row, not new code.
 *
 * Sources of every rule (the project's research notes on the wire facts):
 *   codex       research/oauth.md §1 "Upstream request" (what CLIProxyAPI and missdeer/aiproxy
 *               send) and research/aiproxy.md §4 "Codex" (missdeer/aiproxy's body changes);
 *               the sampling and limit fields the backend refuses as CLIProxyAPI strips them
 *               (internal/translator/codex/openai/responses/codex_openai-responses_request.go
 *               at 032838a: "Codex Responses rejects token limit fields").
 *   claudecode  research/oauth.md §2 "Upstream request" (endpoint query, the required first
 *               system block).
 */
#include <string.h>
#include "apr_strings.h"
#include "pipeline/tr_dialect.h"
#include "tr_error.h"

typedef enum {
    TR_RULE_SET,     /* field = value */
    TR_RULE_DEFAULT, /* field = value when the body has none */
    TR_RULE_REMOVE,  /* field dropped */
    TR_RULE_REFUSE,  /* field present: 400, text says why */
    /* Responses: a string input becomes one user message item (value: the item, its text
     * left out) */
    TR_RULE_STRING_AS_USER_MESSAGE,
    /* Responses: input items whose role is value get the role text */
    TR_RULE_RENAME_ROLE,
    /* Anthropic: value (a text block) first in the system prompt, the client's text after it,
     * unless a system block already starts with that text */
    TR_RULE_PREPEND_SYSTEM_BLOCK,
} tr_rule_op;

typedef struct {
    tr_rule_op op;
    const char *field;
    const char *value; /* JSON text (SET, DEFAULT, STRING_AS_USER_MESSAGE, PREPEND); a role */
    const char *text;  /* REFUSE: why; RENAME_ROLE: the new role */
} tr_dialect_rule;

struct tr_dialect {
    aiproxy_dialect dialect;
    const char *name;
    aiproxy_proto proto; /* the protocol the backend speaks */
    int always_stream;   /* the backend only streams; its rules set the body's flag */
    int takes_variants;  /* endpoint variants (Responses /compact) reach it */
    const char *path;    /* replaces the codec's path, or NULL */
    const char *query;   /* replaces the codec's query, or NULL */
    const tr_dialect_rule *rules;
    int nrules;
};

/* Most cache breakpoints (cache_control) Anthropic takes in one request. */
#define TR_ANTHROPIC_MAX_CACHE_BREAKPOINTS 4

static const tr_dialect_rule codex_rules[] = {
    /* The backend always streams and keeps no state (oauth.md §1 "Body"). */
    {TR_RULE_SET, "stream", "true", NULL},
    {TR_RULE_SET, "store", "false", NULL},
    /* "instructions present (CPA sets \"\")"; a client's own instructions stay. */
    {TR_RULE_DEFAULT, "instructions", "\"\"", NULL},
    /* With nothing stored, reasoning reaches the next turn only as encrypted content. */
    {TR_RULE_DEFAULT, "include", "[\"reasoning.encrypted_content\"]", NULL},
    /* "string input -> [{role:user, content}]" (oauth.md §1, aiproxy.md §4). */
    {TR_RULE_STRING_AS_USER_MESSAGE, "input",
     "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\"}]}", NULL},
    /* CPA: the backend takes no "system" role in input; Responses' own word is "developer". */
    {TR_RULE_RENAME_ROLE, "input", "system", "developer"},
    /* Deleted by CPA (oauth.md §1) and MD (aiproxy.md §4) ... */
    {TR_RULE_REMOVE, "prompt_cache_retention", NULL, NULL},
    {TR_RULE_REMOVE, "safety_identifier", NULL, NULL},
    {TR_RULE_REMOVE, "stream_options", NULL, NULL},
    {TR_RULE_REMOVE, "generate", NULL, NULL},
    {TR_RULE_REMOVE, "truncation", NULL, NULL},
    {TR_RULE_REMOVE, "context_management", NULL, NULL},
    /* ... and refused by the backend, as CPA's Codex translator strips them. */
    {TR_RULE_REMOVE, "max_output_tokens", NULL, NULL},
    {TR_RULE_REMOVE, "max_completion_tokens", NULL, NULL},
    {TR_RULE_REMOVE, "temperature", NULL, NULL},
    {TR_RULE_REMOVE, "top_p", NULL, NULL},
    {TR_RULE_REMOVE, "user", NULL, NULL},
    /* CPA deletes it, which silently drops the conversation it names; refusing lets another
     * upstream (one that stores responses) answer, or tells the client why. */
    {TR_RULE_REFUSE, "previous_response_id", NULL,
     "'previous_response_id' refers to conversation state stored by the responses API; the "
     "codex upstream stores none (store is false): send the full conversation instead"},
};

static const tr_dialect_rule claude_code_rules[] = {
    /* "system must start with" this block (oauth.md §2 "Required system prompt"). */
    {TR_RULE_PREPEND_SYSTEM_BLOCK, "system",
     "{\"type\":\"text\",\"text\":\"You are Claude Code, Anthropic's official CLI for Claude.\","
     "\"cache_control\":{\"type\":\"ephemeral\"}}",
     NULL},
};

#define RULES(r) r, (int) (sizeof(r) / sizeof((r)[0]))

static const tr_dialect dialects[AIPROXY_DIALECT_COUNT] = {
    [AIPROXY_DIALECT_CODEX] = {AIPROXY_DIALECT_CODEX, "codex", AIPROXY_PROTO_RESPONSES, 1, 0,
                               "/responses", NULL, RULES(codex_rules)},
    /* "POST .../v1/messages?beta=true" (oauth.md §2): the codec's path, this query. */
    [AIPROXY_DIALECT_CLAUDE_CODE] = {AIPROXY_DIALECT_CLAUDE_CODE, "claudecode",
                                     AIPROXY_PROTO_ANTHROPIC, 0, 0, NULL, "beta=true",
                                     RULES(claude_code_rules)},
};

const tr_dialect *tr_dialect_for(aiproxy_dialect dialect)
{
    if ((unsigned) dialect >= AIPROXY_DIALECT_COUNT || !dialects[dialect].name)
        return NULL;
    return &dialects[dialect];
}

const char *tr_dialect_name(const tr_dialect *d)
{
    return d ? d->name : "none";
}

int tr_dialect_prepare(apr_pool_t *p, const tr_dialect *d, const aiproxy_target *target,
                       const char *variant, aiproxy_target *effective, aiproxy_error *err)
{
    *effective = *target;
    if (!d)
        return 0;
    if (target->proto != d->proto)
        return tr_error_set(err, 500,
                            apr_psprintf(p, "the %s dialect is of the %s protocol, not %s", d->name,
                                         aiproxy_proto_name(d->proto),
                                         aiproxy_proto_name(target->proto)));
    if (variant && !d->takes_variants)
        return tr_error_set(err, 400,
                            apr_psprintf(p,
                                         "the '%s' endpoint cannot be sent to a %s upstream "
                                         "(its backend takes plain generations only)",
                                         variant, d->name));
    if (d->always_stream)
        effective->stream = 1;
    return 0;
}

int tr_dialect_writes_stream(const tr_dialect *d)
{
    return d && d->always_stream;
}

void tr_dialect_endpoint(const tr_dialect *d, const char **path, const char **query)
{
    if (d && d->path)
        *path = d->path;
    if (d && d->query)
        *query = d->query;
}

/* ---- the operations ------------------------------------------------------------------------ */

/* A rule's constant value as a fresh tree (the body may change it later). */
static tr_jv *rule_value(apr_pool_t *p, const tr_dialect_rule *rule, aiproxy_error *err)
{
    tr_jv *v = tr_jv_parse(p, rule->value, strlen(rule->value), err);
    if (!v)
        tr_error_set(err, 500, apr_psprintf(p, "dialect rule for '%s' is not JSON", rule->field));
    return v;
}

static int string_as_user_message(apr_pool_t *p, const tr_dialect_rule *rule, tr_jv *body,
                                  aiproxy_error *err)
{
    tr_jv *input = tr_jv_get(body, rule->field);
    tr_jv *item, *items;

    if (!tr_jv_is_string(input))
        return 0;
    if (!(item = rule_value(p, rule, err)))
        return err->status;
    tr_jv_set(tr_jv_at(tr_jv_get_array(item, "content"), 0), "text", input);
    items = tr_jv_array(p);
    tr_jv_push(items, item);
    tr_jv_set(body, rule->field, items);
    return 0;
}

/* A copy of object obj (members shared) with key set to value, in obj's member order. */
static tr_jv *object_with(apr_pool_t *p, const tr_jv *obj, const char *key, tr_jv *value)
{
    tr_jv *copy = tr_jv_object(p);
    apr_size_t i;
    const char *k;
    tr_jv *v;

    tr_jv_object_foreach(obj, i, k, v)
    {
        tr_jv_set(copy, k, strcmp(k, key) ? v : value);
    }
    return copy;
}

static void rename_role(apr_pool_t *p, const tr_dialect_rule *rule, tr_jv *body)
{
    tr_jv *items = tr_jv_get_array(body, rule->field);
    tr_jv *renamed = NULL;

    for (apr_size_t i = 0; i < tr_jv_size(items); i++) {
        const char *role = tr_jv_get_str(tr_jv_at(items, i), "role");
        if (role && !strcmp(role, rule->value)) {
            renamed = tr_jv_array(p);
            break;
        }
    }
    if (!renamed)
        return; /* nothing to rename: the client's array stays shared, uncopied */
    for (apr_size_t i = 0; i < tr_jv_size(items); i++) {
        tr_jv *item = tr_jv_at(items, i);
        const char *role = tr_jv_get_str(item, "role");
        if (role && !strcmp(role, rule->value))
            item = object_with(p, item, "role", tr_jv_string(p, rule->text));
        tr_jv_push(renamed, item);
    }
    tr_jv_set(body, rule->field, renamed);
}

static int has_cache_control(const tr_jv *v)
{
    return tr_jv_get(v, "cache_control") != NULL;
}

/* Cache breakpoints the body already sets: system blocks, message content blocks, tools. */
static int cache_breakpoints(const tr_jv *body)
{
    const tr_jv *system = tr_jv_get_array(body, "system");
    const tr_jv *messages = tr_jv_get_array(body, "messages");
    const tr_jv *tools = tr_jv_get_array(body, "tools");
    int n = 0;

    for (apr_size_t i = 0; i < tr_jv_size(system); i++)
        n += has_cache_control(tr_jv_at(system, i));
    for (apr_size_t i = 0; i < tr_jv_size(messages); i++) {
        const tr_jv *content = tr_jv_get_array(tr_jv_at(messages, i), "content");
        for (apr_size_t j = 0; j < tr_jv_size(content); j++)
            n += has_cache_control(tr_jv_at(content, j));
    }
    for (apr_size_t i = 0; i < tr_jv_size(tools); i++)
        n += has_cache_control(tr_jv_at(tools, i));
    return n;
}

static int starts_with(const char *s, const char *prefix)
{
    return s && !strncmp(s, prefix, strlen(prefix));
}

/* The system prompt (a string or text blocks) already opens a block with text. */
static int system_has_block(const tr_jv *system, const char *text)
{
    if (tr_jv_is_string(system))
        return starts_with(tr_jv_str_value(system), text);
    for (apr_size_t i = 0; i < tr_jv_size(system); i++)
        if (starts_with(tr_jv_get_str(tr_jv_at(system, i), "text"), text))
            return 1;
    return 0;
}

static int prepend_system_block(apr_pool_t *p, const tr_dialect_rule *rule, tr_jv *body,
                                aiproxy_error *err)
{
    tr_jv *system = tr_jv_get(body, rule->field);
    tr_jv *block = rule_value(p, rule, err);
    tr_jv *blocks;

    if (!block)
        return err->status;
    if (system_has_block(system, tr_jv_get_str(block, "text")))
        return 0;
    /* One breakpoint more than Anthropic takes would refuse the whole request: the block then
     * goes without its own. */
    if (has_cache_control(block) && cache_breakpoints(body) >= TR_ANTHROPIC_MAX_CACHE_BREAKPOINTS)
        tr_jv_del(block, "cache_control");
    blocks = tr_jv_array(p);
    tr_jv_push(blocks, block);
    if (tr_jv_is_string(system) && tr_jv_str_len(system) > 0) {
        /* Anthropic refuses empty text blocks: an empty string adds none. */
        tr_jv *text = tr_jv_push_object(blocks);
        tr_jv_set_str(text, "type", "text");
        tr_jv_set(text, "text", system);
    } else if (tr_jv_is_array(system))
        tr_jv_extend(blocks, system);
    tr_jv_set(body, rule->field, blocks);
    return 0;
}

static int apply_rule(apr_pool_t *p, const tr_dialect *d, const tr_dialect_rule *rule, tr_jv *body,
                      aiproxy_error *err)
{
    tr_jv *value;

    switch (rule->op) {
    case TR_RULE_SET:
    case TR_RULE_DEFAULT:
        if (rule->op == TR_RULE_DEFAULT && tr_jv_get(body, rule->field))
            return 0;
        if (!(value = rule_value(p, rule, err)))
            return err->status;
        tr_jv_set(body, rule->field, value);
        return 0;
    case TR_RULE_REMOVE:
        tr_jv_del(body, rule->field);
        return 0;
    case TR_RULE_REFUSE:
        if (!tr_jv_get(body, rule->field))
            return 0;
        return tr_error_set(err, 400, rule->text);
    case TR_RULE_STRING_AS_USER_MESSAGE:
        return string_as_user_message(p, rule, body, err);
    case TR_RULE_RENAME_ROLE:
        rename_role(p, rule, body);
        return 0;
    case TR_RULE_PREPEND_SYSTEM_BLOCK:
        return prepend_system_block(p, rule, body, err);
    }
    return tr_error_set(err, 500, apr_psprintf(p, "unknown rule in the %s dialect", d->name));
}

int tr_dialect_shape_body(apr_pool_t *p, const tr_dialect *d, tr_jv *body, aiproxy_error *err)
{
    for (int i = 0; d && i < d->nrules; i++) {
        int rc = apply_rule(p, d, &d->rules[i], body, err);
        if (rc)
            return rc;
    }
    return 0;
}
