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
 *   geminicli   research/oauth.md §3 "Upstream request" (the v1internal endpoint and envelope,
 *               gemini-cli's converter.ts) and "Response" (the {"response": ...} answers).
 *   antigravity research/oauth.md §4 "Envelope differences" (CLIProxyAPI's geminiToAntigravity
 *               and missdeer/aiproxy). CLIProxyAPI moves a top-level toolConfig under request;
 *               the Gemini codec already writes it there, so no rule does.
 *
 * Field names may be dotted paths ("request.generationConfig.maxOutputTokens"): the objects on
 * the way are copied before they change, since they may be the client's.
 */
#include <string.h>
#include "apr_fnmatch.h"
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
    /* The whole body moves under field of a new, otherwise empty body (an envelope) */
    TR_RULE_WRAP,
    /* field = the target's model / project (none when the target has none) */
    TR_RULE_SET_MODEL,
    TR_RULE_SET_PROJECT,
    /* field = value (plain text) followed by the target's request id, or a stable id derived
     * from the conversation when it has none */
    TR_RULE_SET_REQUEST_ID,
    /* field = value (plain text) followed by a stable number of the conversation (the hash of
     * its first user text), so one conversation keeps one session at the backend */
    TR_RULE_SET_SESSION_ID,
} tr_rule_op;

typedef struct {
    tr_rule_op op;
    const char *field;
    const char *value; /* JSON text (SET, DEFAULT, STRING_AS_USER_MESSAGE, PREPEND); a role;
                        * SET_REQUEST_ID, SET_SESSION_ID: a plain-text prefix */
    const char *text;  /* REFUSE: why; RENAME_ROLE: the new role */
} tr_dialect_rule;

/* Rules for the models whose name matches a pattern (apr_fnmatch), applied after the row's
 * rules to the finished body; the first matching pattern's rules only. */
typedef struct {
    const char *models;
    const tr_dialect_rule *rules;
    int nrules;
} tr_model_rules;

struct tr_dialect {
    aiproxy_dialect dialect;
    const char *name;
    aiproxy_proto proto; /* the protocol the backend speaks */
    int always_stream;   /* the backend only streams; its rules set the body's flag */
    int takes_variants;  /* endpoint variants (Responses /compact) reach it */
    const char *path;    /* replaces the codec's path, or NULL */
    const char *query;   /* replaces the codec's query, or NULL */
    /* replaces the codec's path up to its ":action" (Gemini's ":generateContent"), or NULL */
    const char *action_base;
    const tr_dialect_rule *rules;
    int nrules;
    const tr_model_rules *model_rules;
    int nmodel_rules;
    /* the member every answer and stream event of the backend is wrapped in, or NULL */
    const char *answer_member;
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

/* gemini-cli's converter.ts: {"model", "project", "user_prompt_id", "request": {...,
 * "session_id"}} (oauth.md §3 "Envelope"). */
static const tr_dialect_rule gemini_cli_rules[] = {
    {TR_RULE_SET_SESSION_ID, "session_id", "", NULL},
    {TR_RULE_WRAP, "request", NULL, NULL},
    {TR_RULE_SET_MODEL, "model", NULL, NULL},
    {TR_RULE_SET_PROJECT, "project", NULL, NULL},
    {TR_RULE_SET_REQUEST_ID, "user_prompt_id", "", NULL},
};

/* The same envelope with Antigravity's members (oauth.md §4 "Envelope differences"). */
static const tr_dialect_rule antigravity_rules[] = {
    {TR_RULE_REMOVE, "safetySettings", NULL, NULL},
    {TR_RULE_SET_SESSION_ID, "sessionId", "-", NULL},
    {TR_RULE_WRAP, "request", NULL, NULL},
    {TR_RULE_SET_MODEL, "model", NULL, NULL},
    {TR_RULE_SET_PROJECT, "project", NULL, NULL},
    {TR_RULE_SET, "userAgent", "\"antigravity\"", NULL},
    {TR_RULE_SET_REQUEST_ID, "requestId", "agent-", NULL},
    {TR_RULE_SET, "requestType", "\"agent\"", NULL},
};

/* "claude-* models get request.toolConfig.functionCallingConfig.mode=VALIDATED, others lose
 * maxOutputTokens"; image models are requested as "image_gen". */
static const tr_dialect_rule antigravity_claude_rules[] = {
    {TR_RULE_SET, "request.toolConfig.functionCallingConfig.mode", "\"VALIDATED\"", NULL},
};
static const tr_dialect_rule antigravity_image_rules[] = {
    {TR_RULE_SET, "requestType", "\"image_gen\"", NULL},
    {TR_RULE_REMOVE, "request.generationConfig.maxOutputTokens", NULL, NULL},
};
static const tr_dialect_rule antigravity_other_rules[] = {
    {TR_RULE_REMOVE, "request.generationConfig.maxOutputTokens", NULL, NULL},
};

#define COUNT(r)       (int) (sizeof(r) / sizeof((r)[0]))
#define RULES(r)       r, COUNT(r)
#define ROW_RULES(r)   .rules = r, .nrules = COUNT(r)
#define MODEL_RULES(r) .model_rules = r, .nmodel_rules = COUNT(r)

static const tr_model_rules antigravity_model_rules[] = {
    {"claude-*", RULES(antigravity_claude_rules)},
    {"*image*", RULES(antigravity_image_rules)},
    {"*", RULES(antigravity_other_rules)},
};

static const tr_dialect dialects[AIPROXY_DIALECT_COUNT] = {
    [AIPROXY_DIALECT_CODEX] = {.dialect = AIPROXY_DIALECT_CODEX,
                               .name = "codex",
                               .proto = AIPROXY_PROTO_RESPONSES,
                               .always_stream = 1,
                               .path = "/responses",
                               ROW_RULES(codex_rules)},
    /* "POST .../v1/messages?beta=true" (oauth.md §2): the codec's path, this query. */
    [AIPROXY_DIALECT_CLAUDE_CODE] = {.dialect = AIPROXY_DIALECT_CLAUDE_CODE,
                                     .name = "claudecode",
                                     .proto = AIPROXY_PROTO_ANTHROPIC,
                                     .query = "beta=true",
                                     ROW_RULES(claude_code_rules)},
    /* "<base>/v1internal:generateContent" and ":streamGenerateContent?alt=sse" (oauth.md §3). */
    [AIPROXY_DIALECT_GEMINI_CLI] = {.dialect = AIPROXY_DIALECT_GEMINI_CLI,
                                    .name = "geminicli",
                                    .proto = AIPROXY_PROTO_GEMINI,
                                    .action_base = "/v1internal",
                                    ROW_RULES(gemini_cli_rules),
                                    .answer_member = "response"},
    [AIPROXY_DIALECT_ANTIGRAVITY] = {.dialect = AIPROXY_DIALECT_ANTIGRAVITY,
                                     .name = "antigravity",
                                     .proto = AIPROXY_PROTO_GEMINI,
                                     .action_base = "/v1internal",
                                     ROW_RULES(antigravity_rules),
                                     MODEL_RULES(antigravity_model_rules),
                                     .answer_member = "response"},
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

void tr_dialect_endpoint(apr_pool_t *p, const tr_dialect *d, const char **path, const char **query)
{
    const char *action = d && d->action_base && *path ? strrchr(*path, ':') : NULL;

    if (d && d->path)
        *path = d->path;
    if (action)
        *path = apr_pstrcat(p, d->action_base, action, NULL);
    if (d && d->query)
        *query = d->query;
}

int tr_dialect_counts_tokens(const tr_dialect *d)
{
    return !d || !d->action_base;
}

const char *tr_dialect_answer_member(const tr_dialect *d)
{
    return d ? d->answer_member : NULL;
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

/* The object holding the last name of a dotted field, and that name in *name. Each object on
 * the way is replaced by a copy its parent holds, since it may be the client's; a missing one
 * is made empty when create is set, else (or when one is no object) NULL. */
static tr_jv *field_owner(apr_pool_t *p, tr_jv *body, const char *field, int create,
                          const char **name)
{
    tr_jv *owner = body;
    const char *dot;

    while ((dot = strchr(field, '.')) != NULL) {
        const char *key = apr_pstrmemdup(p, field, (apr_size_t) (dot - field));
        tr_jv *next = tr_jv_get(owner, key), *copy;

        if (!next && !create)
            return NULL;
        if (next && !tr_jv_is_object(next))
            return NULL;
        copy = tr_jv_object(p);
        if (next)
            tr_jv_update_missing(copy, next);
        tr_jv_set(owner, key, copy);
        owner = copy;
        field = dot + 1;
    }
    *name = field;
    return owner;
}

/* The first text a user wrote in a Gemini body ("" when none): what names the conversation. */
static const char *first_user_text(const tr_jv *body)
{
    const tr_jv *contents = tr_jv_get_array(body, "contents");

    for (apr_size_t i = 0; i < tr_jv_size(contents); i++) {
        const tr_jv *content = tr_jv_at(contents, i);
        const char *role = tr_jv_get_str(content, "role");
        const tr_jv *parts = tr_jv_get_array(content, "parts");

        if (role && strcmp(role, "user"))
            continue;
        for (apr_size_t j = 0; j < tr_jv_size(parts); j++) {
            const char *text = tr_jv_get_str(tr_jv_at(parts, j), "text");
            if (text)
                return text;
        }
    }
    return "";
}

/* A stable 63-bit number of a text (FNV-1a): the same conversation gets the same number in
 * every child and after a restart. */
static apr_uint64_t stable_number(const char *text)
{
    apr_uint64_t h = APR_UINT64_C(0xcbf29ce484222325);

    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        h = (h ^ *c) * APR_UINT64_C(0x100000001b3);
    return h & APR_UINT64_C(0x7fffffffffffffff);
}

/* The text value a rule of the target or conversation sets, or NULL when it sets none. The
 * conversation is the protocol's body, before any envelope. */
static const char *derived_value(apr_pool_t *p, const tr_dialect_rule *rule,
                                 const aiproxy_target *target, const tr_jv *conversation)
{
    switch (rule->op) {
    case TR_RULE_SET_MODEL:
        return target->model;
    case TR_RULE_SET_PROJECT:
        return target->project;
    case TR_RULE_SET_REQUEST_ID:
        if (target->request_id)
            return apr_pstrcat(p, rule->value, target->request_id, NULL);
        return apr_psprintf(p, "%s%016" APR_UINT64_T_HEX_FMT, rule->value,
                            stable_number(first_user_text(conversation)));
    case TR_RULE_SET_SESSION_ID:
        return apr_psprintf(p, "%s%" APR_UINT64_T_FMT, rule->value,
                            stable_number(first_user_text(conversation)));
    default:
        return NULL;
    }
}

/* The body moves under rule->field of a new body. */
static tr_jv *wrap(apr_pool_t *p, const tr_dialect_rule *rule, tr_jv *body)
{
    tr_jv *envelope = tr_jv_object(p);

    tr_jv_set(envelope, rule->field, body);
    return envelope;
}

/* What the rules of one request work on. */
typedef struct {
    const aiproxy_target *target;
    const tr_jv *conversation; /* the protocol's body, before any envelope */
} tr_shaping;

static int apply_rule(apr_pool_t *p, const tr_dialect *d, const tr_dialect_rule *rule,
                      const tr_shaping *shaping, tr_jv **bodyp, aiproxy_error *err)
{
    tr_jv *body = *bodyp, *owner, *value;
    const char *name, *text;

    switch (rule->op) {
    case TR_RULE_SET:
    case TR_RULE_DEFAULT:
        if (!(owner = field_owner(p, body, rule->field, 1, &name)))
            return 0; /* a member on the way is no object: the body's own shape wins */
        if (rule->op == TR_RULE_DEFAULT && tr_jv_get(owner, name))
            return 0;
        if (!(value = rule_value(p, rule, err)))
            return err->status;
        tr_jv_set(owner, name, value);
        return 0;
    case TR_RULE_REMOVE:
        if ((owner = field_owner(p, body, rule->field, 0, &name)) != NULL)
            tr_jv_del(owner, name);
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
    case TR_RULE_WRAP:
        *bodyp = wrap(p, rule, body);
        return 0;
    case TR_RULE_SET_MODEL:
    case TR_RULE_SET_PROJECT:
    case TR_RULE_SET_REQUEST_ID:
    case TR_RULE_SET_SESSION_ID:
        if ((text = derived_value(p, rule, shaping->target, shaping->conversation)) != NULL &&
            (owner = field_owner(p, body, rule->field, 1, &name)) != NULL)
            tr_jv_set(owner, name, tr_jv_string(p, text));
        return 0;
    }
    return tr_error_set(err, 500, apr_psprintf(p, "unknown rule in the %s dialect", d->name));
}

static int apply_rules(apr_pool_t *p, const tr_dialect *d, const tr_dialect_rule *rules, int n,
                       const tr_shaping *shaping, tr_jv **body, aiproxy_error *err)
{
    for (int i = 0; i < n; i++) {
        int rc = apply_rule(p, d, &rules[i], shaping, body, err);
        if (rc)
            return rc;
    }
    return 0;
}

int tr_dialect_shape_body(apr_pool_t *p, const tr_dialect *d, const aiproxy_target *target,
                          tr_jv **body, aiproxy_error *err)
{
    tr_shaping shaping = {target, *body};
    int rc;

    if (!d)
        return 0;
    if ((rc = apply_rules(p, d, d->rules, d->nrules, &shaping, body, err)) != 0)
        return rc;
    for (int i = 0; i < d->nmodel_rules; i++) {
        const tr_model_rules *m = &d->model_rules[i];
        if (target->model && apr_fnmatch(m->models, target->model, 0) == APR_SUCCESS)
            return apply_rules(p, d, m->rules, m->nrules, &shaping, body, err);
    }
    return 0;
}
