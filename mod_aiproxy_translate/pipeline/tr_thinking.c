/* pipeline/tr_thinking.c: see tr_thinking.h. */
#include "pipeline/tr_thinking.h"

/* What each target protocol's encoder needs in the IR to ask for thinking at the default. */
typedef struct {
    long budget;          /* thinking_budget; 0: none (the protocol takes an effort) */
    const char *effort;   /* reasoning_effort; NULL: none (the protocol takes a budget) */
    int include_thoughts; /* ask for the thoughts (Gemini) or their summary (Responses) */
} thinking_default;

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
