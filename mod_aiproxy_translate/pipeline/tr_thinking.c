/* pipeline/tr_thinking.c: see tr_thinking.h. */
#include <string.h>
#include "apr_strings.h"
#include "pipeline/tr_thinking.h"

/* What each target protocol's encoder needs in the IR to ask for thinking at the default. */
typedef struct {
    long budget;          /* thinking_budget; 0: none (the protocol takes an effort) */
    const char *effort;   /* reasoning_effort; NULL: none (the protocol takes a budget) */
    int include_thoughts; /* ask for the thoughts (Gemini) or their summary (Responses) */
} thinking_default;

/* The members of each protocol's body that say how to think (and what thinking rules out),
 * as "member" or "member.child": what a same-protocol request takes from the encoding. */
#define MAX_MEMBERS 5
static const char *const thinking_members[AIPROXY_PROTO_COUNT][MAX_MEMBERS] = {
    /* thinking on narrows the sampling Anthropic accepts and may raise max_tokens */
    [AIPROXY_PROTO_ANTHROPIC] = {"thinking", "max_tokens", "temperature", "top_p", "top_k"},
    [AIPROXY_PROTO_OPENAI] = {"reasoning_effort"},
    [AIPROXY_PROTO_RESPONSES] = {"reasoning"},
    [AIPROXY_PROTO_GEMINI] = {"generationConfig.thinkingConfig"},
};

static const thinking_default defaults[AIPROXY_PROTO_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = {TR_THINKING_DEFAULT_BUDGET, NULL, 0},
    [AIPROXY_PROTO_OPENAI] = {0, TR_THINKING_DEFAULT_EFFORT, 0},
    [AIPROXY_PROTO_RESPONSES] = {0, TR_THINKING_DEFAULT_EFFORT, 1},
    [AIPROXY_PROTO_GEMINI] = {TR_THINKING_DEFAULT_BUDGET, NULL, 1},
};

int tr_thinking_explicit(const tr_request *ir)
{
    return ir->thinking != -1 || ir->thinking_budget > 0 || ir->reasoning_effort != NULL ||
           ir->thinking_adaptive;
}

void tr_thinking_apply_default(tr_request *ir, aiproxy_proto target)
{
    const thinking_default *d =
        (unsigned) target < AIPROXY_PROTO_COUNT ? &defaults[target] : &defaults[0];

    ir->thinking = 1;
    ir->thinking_budget = d->budget;
    ir->reasoning_effort = d->effort;
    ir->include_thoughts = ir->include_thoughts || d->include_thoughts;
}

/* Set (or, absent from encoded, remove) member key of body from encoded. */
static void take_member(tr_jv *body, const tr_jv *encoded, const char *key)
{
    tr_jv *value = tr_jv_get(encoded, key);

    if (value)
        tr_jv_set(body, key, value);
    else
        tr_jv_del(body, key);
}

void tr_thinking_overlay(apr_pool_t *p, tr_jv *body, const tr_jv *encoded, aiproxy_proto proto)
{
    if ((unsigned) proto >= AIPROXY_PROTO_COUNT)
        return;
    for (int i = 0; i < MAX_MEMBERS && thinking_members[proto][i]; i++) {
        const char *member = thinking_members[proto][i], *dot = strchr(member, '.');
        const char *parent_key;
        tr_jv *parent;

        if (!dot) {
            take_member(body, encoded, member);
            continue;
        }
        /* A nested member: the parent is the client's, shared with its tree, so a new one
         * with the client's other members takes its place. */
        parent_key = apr_pstrmemdup(p, member, (apr_size_t) (dot - member));
        parent = tr_jv_object(p);
        if (tr_jv_get_object(body, parent_key))
            tr_jv_update_missing(parent, tr_jv_get_object(body, parent_key));
        take_member(parent, tr_jv_get_object(encoded, parent_key), dot + 1);
        tr_jv_set(body, parent_key, parent);
    }
}
