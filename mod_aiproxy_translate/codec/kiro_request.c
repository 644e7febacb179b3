/*
 * codec/kiro_request.c: IR -> Kiro's conversationState body (research/oauth.md §5 "Body" and
 * "Constraints").
 *
 *   {"conversationState": {"agentTaskType": "vibe", "chatTriggerType": "MANUAL",
 *      "conversationId": <uuid>, "currentMessage": {"userInputMessage": {...}},
 *      "history": [{"userInputMessage": {...}}, {"assistantResponseMessage": {...}}, ...]},
 *    "profileArn": <the credential's account, when it has one>}
 *
 * Kiro takes alternating user and assistant turns and no system role, so the conversation is
 * first folded into turns (consecutive messages of one role merged, system text put in front
 * of the first user turn), then the last turn becomes the current message: it must be a user
 * turn (a trailing assistant turn goes to the history and "Continue" is asked), every content
 * must be non-empty, a tool-use id may appear once, tool names are at most 64 characters and
 * descriptions at most 10240 bytes. Sampling settings, limits and tool choice have no field.
 */
#include <string.h>
#include "apr_hash.h"
#include "apr_strings.h"
#include "tr_error.h"
#include "codec/tr_protocols.h"
#include "codec/tr_request_util.h"

#define KIRO_MAX_TOOL_NAME        64
#define KIRO_MAX_TOOL_DESCRIPTION 10240
#define KIRO_ORIGIN               "AI_EDITOR"

/* What a turn says when it has no text of its own: Kiro refuses empty content. */
static const struct {
    const char *continue_turn;  /* an empty user turn, or the one added after an assistant turn */
    const char *tool_results;   /* a user turn of tool results only */
    const char *assistant_turn; /* an assistant turn of tool calls (or thinking) only */
} placeholder = {"Continue", "Tool results provided.", "Calling tools."};

/* Image media types Kiro names by their format word. */
static const tr_req_word image_formats[] = {
    {1, "png"}, {2, "jpeg"}, {2, "jpg"}, {3, "gif"}, {4, "webp"}, {0, NULL},
};

/* One turn: a role and the blocks of every message folded into it. */
typedef struct {
    tr_role role;
    apr_array_header_t *blocks; /* const tr_block * */
} kiro_turn;

typedef struct {
    tr_req_encoder e;
    apr_hash_t *tool_use_ids; /* ids already sent: Kiro refuses a repeated one */
} kiro_encoder;

/* A random version 4 UUID: the conversation id every request carries. */
static const char *random_uuid(apr_pool_t *p)
{
    unsigned char b[16];

    if (apr_generate_random_bytes(b, sizeof(b)) != APR_SUCCESS)
        memset(b, 0x5a, sizeof(b));
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
    return apr_psprintf(p, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                        b[12], b[13], b[14], b[15]);
}

/* ---- turns ------------------------------------------------------------------------------- */

/* The conversation as alternating turns (system messages left out: their text is folded in
 * as system text), starting with a user turn and ending with one. */
static apr_array_header_t *fold_turns(apr_pool_t *p, const tr_request *req)
{
    apr_array_header_t *turns = apr_array_make(p, 8, sizeof(kiro_turn));
    kiro_turn *last = NULL;

    for (int i = 0; req->messages && i < req->messages->nelts; i++) {
        const tr_message *m = APR_ARRAY_IDX(req->messages, i, const tr_message *);
        if (m->role == TR_ROLE_SYSTEM)
            continue;
        if (!last || last->role != m->role || (!turns->nelts && m->role != TR_ROLE_USER)) {
            if (!turns->nelts && m->role != TR_ROLE_USER) {
                /* The history must open with a user turn. */
                last = apr_array_push(turns);
                last->role = TR_ROLE_USER;
                last->blocks = apr_array_make(p, 1, sizeof(const tr_block *));
            }
            last = apr_array_push(turns);
            last->role = m->role;
            last->blocks = apr_array_make(p, 4, sizeof(const tr_block *));
        }
        apr_array_cat(last->blocks, m->blocks);
    }
    if (!last || last->role != TR_ROLE_USER) {
        last = apr_array_push(turns);
        last->role = TR_ROLE_USER;
        last->blocks = apr_array_make(p, 1, sizeof(const tr_block *));
    }
    return turns;
}

/* ---- user turns -------------------------------------------------------------------------- */

/* {"format": "png", "source": {"bytes": <base64>}} for an inline image; a 400 otherwise. */
static int add_image(kiro_encoder *k, tr_jv *images, const tr_block *b)
{
    const char *type = b->media_type ? b->media_type : "";
    const char *sub = strncmp(type, "image/", 6) ? NULL : type + 6;
    const char *format =
        sub ? tr_req_value_word(image_formats, tr_req_word_value(image_formats, sub, 0)) : NULL;

    if (!b->data || !format)
        return tr_req_inexpressible(k->e.p, k->e.err,
                                    "the kiro upstream takes images inline as base64 PNG, JPEG, "
                                    "GIF or WebP only (not a URL, file id or %s)",
                                    b->media_type ? b->media_type : "untyped data");
    tr_jv_push(images,
               tr_jv_pack(k->e.p, "{s:s, s:{s:s}}", "format", format, "source", "bytes", b->data));
    return 0;
}

/* A tool result: {"toolUseId", "status", "content": [{"text"}]}; its images join the turn's. */
static int add_tool_result(kiro_encoder *k, tr_jv *results, tr_jv *images, const tr_block *b)
{
    tr_jv *result = tr_jv_push_object(results);
    tr_jv *content = tr_jv_array(k->e.p);
    int rc;

    tr_jv_set_str(result, "toolUseId", b->tool_call_id ? b->tool_call_id : "");
    tr_jv_set_str(result, "status", b->is_error ? "error" : "success");
    for (int i = 0; b->content && i < b->content->nelts; i++) {
        const tr_block *part = APR_ARRAY_IDX(b->content, i, const tr_block *);
        if (part->kind == TR_BLOCK_TEXT && part->text)
            tr_jv_push(content, tr_jv_pack(k->e.p, "{s:s}", "text", part->text));
        else if (part->kind == TR_BLOCK_IMAGE && (rc = add_image(k, images, part)))
            return rc;
    }
    if (tr_jv_size(content) == 0)
        tr_jv_push(content, tr_jv_pack(k->e.p, "{s:s}", "text", ""));
    tr_jv_set(result, "content", content);
    return 0;
}

/* The text of a turn's TEXT blocks, with the system text in front for the first user turn. */
static const char *turn_text(apr_pool_t *p, const kiro_turn *turn, const char *system)
{
    const char *text = tr_req_join_text(p, turn->blocks, TR_BLOCK_TEXT, "\n\n");

    if (system && *system)
        return text && *text ? apr_pstrcat(p, system, "\n\n", text, NULL) : system;
    return text;
}

/* {"userInputMessage": {...}} for turn; tools go only into the current message. */
static int user_message(kiro_encoder *k, const kiro_turn *turn, const char *system, tr_jv *tools,
                        tr_jv **out)
{
    apr_pool_t *p = k->e.p;
    tr_jv *msg = tr_jv_object(p), *inner = tr_jv_set_object(msg, "userInputMessage");
    tr_jv *images = tr_jv_array(p), *results = tr_jv_array(p), *context;
    const char *text = turn_text(p, turn, system);
    int rc;

    for (int i = 0; i < turn->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(turn->blocks, i, const tr_block *);
        switch (b->kind) {
        case TR_BLOCK_IMAGE:
            rc = add_image(k, images, b);
            break;
        case TR_BLOCK_TOOL_RESULT:
            rc = add_tool_result(k, results, images, b);
            break;
        case TR_BLOCK_DOCUMENT:
            rc = tr_req_inexpressible(p, k->e.err,
                                      "the kiro upstream takes no documents (PDF or files)");
            break;
        default:
            rc = 0; /* text is joined above; thinking has no field */
            break;
        }
        if (rc)
            return rc;
    }
    if (!text || !*text)
        text = tr_jv_size(results) ? placeholder.tool_results : placeholder.continue_turn;
    tr_jv_set_str(inner, "content", text);
    tr_jv_set_str(inner, "modelId", k->e.target->model);
    tr_jv_set_str(inner, "origin", KIRO_ORIGIN);
    if (tr_jv_size(images))
        tr_jv_set(inner, "images", images);
    if (tr_jv_size(results) || (tools && tr_jv_size(tools))) {
        context = tr_jv_set_object(inner, "userInputMessageContext");
        if (tools && tr_jv_size(tools))
            tr_jv_set(context, "tools", tools);
        if (tr_jv_size(results))
            tr_jv_set(context, "toolResults", results);
    }
    *out = msg;
    return 0;
}

/* ---- assistant turns --------------------------------------------------------------------- */

/* {"assistantResponseMessage": {"content", "toolUses": [{"toolUseId", "name", "input"}]}}. */
static tr_jv *assistant_message(kiro_encoder *k, const kiro_turn *turn)
{
    apr_pool_t *p = k->e.p;
    tr_jv *msg = tr_jv_object(p), *inner = tr_jv_set_object(msg, "assistantResponseMessage");
    tr_jv *uses = tr_jv_array(p);
    const char *text = tr_req_join_text(p, turn->blocks, TR_BLOCK_TEXT, "\n\n");

    for (int i = 0; i < turn->blocks->nelts; i++) {
        const tr_block *b = APR_ARRAY_IDX(turn->blocks, i, const tr_block *);
        if (b->kind != TR_BLOCK_TOOL_CALL || !b->id ||
            apr_hash_get(k->tool_use_ids, b->id, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(k->tool_use_ids, b->id, APR_HASH_KEY_STRING, b);
        tr_jv_push(uses, tr_jv_pack(p, "{s:s, s:s, s:O}", "toolUseId", b->id, "name",
                                    b->name ? b->name : "", "input",
                                    tr_req_arguments_object(p, b->arguments)));
    }
    tr_jv_set_str(inner, "content", text && *text ? text : placeholder.assistant_turn);
    if (tr_jv_size(uses))
        tr_jv_set(inner, "toolUses", uses);
    return msg;
}

/* ---- tools ------------------------------------------------------------------------------- */

/* s cut to at most max bytes, at a UTF-8 character boundary. */
static const char *cut_utf8(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = strlen(s);

    if (n <= max)
        return s;
    n = max;
    while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
        n--;
    return apr_pstrmemdup(p, s, n);
}

/* [{"toolSpecification": {"name", "description", "inputSchema": {"json": <schema>}}}]: the
 * function tools (built-in tools of other providers have no Kiro counterpart). */
static int encode_tools(kiro_encoder *k, tr_jv **out)
{
    apr_pool_t *p = k->e.p;
    const tr_request *req = k->e.req;
    tr_jv *tools = tr_jv_array(p);

    *out = tools;
    for (int i = 0; req->tools && i < req->tools->nelts; i++) {
        const tr_tool *t = APR_ARRAY_IDX(req->tools, i, const tr_tool *);
        const char *description;
        tr_jv *schema;

        if (!tr_req_tool_callable(req, t))
            continue;
        if (strlen(t->name) > KIRO_MAX_TOOL_NAME)
            return tr_req_inexpressible(p, k->e.err,
                                        "the kiro upstream takes tool names of at most %d "
                                        "characters: '%s' is longer",
                                        KIRO_MAX_TOOL_NAME, t->name);
        description = t->description && *t->description ? t->description : t->name;
        schema = t->parameters ? tr_jv_copy(p, t->parameters)
                               : tr_jv_pack(p, "{s:s, s:{}}", "type", "object", "properties");
        tr_jv_push(tools,
                   tr_jv_pack(p, "{s:{s:s, s:s, s:{s:O}}}", "toolSpecification", "name", t->name,
                              "description", cut_utf8(p, description, KIRO_MAX_TOOL_DESCRIPTION),
                              "inputSchema", "json", schema));
    }
    return 0;
}

/* ---- the body ---------------------------------------------------------------------------- */

int tr_kiro_request_encode(apr_pool_t *p, const tr_request *req, const aiproxy_target *target,
                           tr_jv **out, aiproxy_error *err)
{
    kiro_encoder k = {{p, req, target, err}, apr_hash_make(p)};
    tr_jv *body = tr_jv_object(p), *state, *history, *current = NULL, *tools;
    apr_array_header_t *turns;
    const char *system = tr_req_join_text(p, tr_req_hoisted_system(p, req), TR_BLOCK_TEXT, "\n\n");
    int rc;

    if ((rc = tr_req_check_server_state(p, req, AIPROXY_PROTO_KIRO, err)) ||
        (rc = tr_req_check_single_answer(p, req, AIPROXY_PROTO_KIRO, err)) ||
        (rc = encode_tools(&k, &tools)))
        return tr_req_finish_body(body, rc, out);
    turns = fold_turns(p, req);
    state = tr_jv_set_object(body, "conversationState");
    tr_jv_set_str(state, "agentTaskType", "vibe");
    tr_jv_set_str(state, "chatTriggerType", "MANUAL");
    tr_jv_set_str(state, "conversationId", random_uuid(p));
    history = tr_jv_array(p);
    for (int i = 0; i < turns->nelts && !rc; i++) {
        const kiro_turn *turn = &APR_ARRAY_IDX(turns, i, kiro_turn);
        int is_current = i == turns->nelts - 1;
        tr_jv *msg = NULL;

        if (turn->role == TR_ROLE_ASSISTANT)
            msg = assistant_message(&k, turn);
        else
            rc = user_message(&k, turn, i == 0 ? system : NULL, is_current ? tools : NULL, &msg);
        if (is_current)
            current = msg;
        else
            tr_jv_push(history, msg);
    }
    if (rc)
        return tr_req_finish_body(body, rc, out);
    tr_jv_set(state, "currentMessage", current);
    if (tr_jv_size(history))
        tr_jv_set(state, "history", history);
    if (target->account && *target->account)
        tr_jv_set_str(body, "profileArn", target->account);
    return tr_req_finish_body(body, 0, out);
}
