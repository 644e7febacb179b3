/* codec/kiro_text_calls.c: see codec/kiro_text_calls.h. */
#include <string.h>
#include "apr_strings.h"
#include "codec/kiro_text_calls.h"
#include "json/tr_buf.h"
#include "json/tr_json_check.h"
#include "json/tr_json_string.h"

/* The form of a call, one step after the other; the scanner is at one step at a time. */
typedef enum { STEP_WORD, STEP_SPACE, STEP_NAME, STEP_ARGS } step_kind;

static const struct {
    step_kind kind;
    const char *word; /* STEP_WORD: the exact bytes */
    int min;          /* STEP_SPACE: whitespace bytes required */
} form[] = {
    {STEP_WORD, "[Called", 0}, {STEP_SPACE, NULL, 1},  {STEP_NAME, NULL, 0},
    {STEP_SPACE, NULL, 1},     {STEP_WORD, "with", 0}, {STEP_SPACE, NULL, 1},
    {STEP_WORD, "args:", 0},   {STEP_SPACE, NULL, 0},  {STEP_ARGS, NULL, 0},
    {STEP_SPACE, NULL, 0},     {STEP_WORD, "]", 0},
};
#define FORM_STEPS (sizeof(form) / sizeof(form[0]))

struct tr_text_calls {
    const char **names; /* the declared tools */
    int n_names;
    tr_buf held; /* the candidate call so far, from its '[' */
    apr_size_t max;
    /* where the candidate is */
    size_t step;
    apr_size_t pos; /* STEP_WORD: bytes matched; STEP_SPACE: whitespace seen */
    char name[TR_TEXT_CALLS_MAX_NAME + 1];
    apr_size_t name_len;
    apr_size_t args_at, args_len;
    /* STEP_ARGS: open brackets, and the string being read if any */
    apr_size_t depth;
    tr_json_string string;
};

/* What one byte does to the candidate. */
typedef enum {
    TAKE,     /* the byte belongs to the candidate, which goes on */
    NEXT,     /* the current step is over without the byte: try it on the next step */
    MISMATCH, /* the candidate is text: hand it on, then read the byte as text */
    COMPLETE  /* the byte belongs to the candidate and ends the current step */
} verdict;

tr_text_calls *tr_text_calls_create(apr_pool_t *p, const apr_array_header_t *names, apr_size_t max)
{
    tr_text_calls *s;

    if (!names || names->nelts == 0)
        return NULL;
    s = apr_pcalloc(p, sizeof(*s));
    s->names = apr_palloc(p, sizeof(*s->names) * names->nelts);
    for (int i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        if (name && *name && strlen(name) <= TR_TEXT_CALLS_MAX_NAME)
            s->names[s->n_names++] = apr_pstrdup(p, name);
    }
    if (!s->n_names)
        return NULL;
    s->max = max;
    tr_buf_init(&s->held, p, 0);
    return s;
}

apr_size_t tr_text_calls_held(const tr_text_calls *s)
{
    return s->held.len;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte a tool name may hold: none that ends a word or belongs to the form's punctuation. */
static int is_name_byte(char c)
{
    return (unsigned char) c > ' ' && !strchr("[]{}\"", c);
}

/* 1 when some declared name starts with (or, when whole, is) the len bytes at name. */
static int name_known(const tr_text_calls *s, const char *name, apr_size_t len, int whole)
{
    for (int i = 0; i < s->n_names; i++) {
        if (!strncmp(s->names[i], name, len) && (!whole || s->names[i][len] == '\0'))
            return 1;
    }
    return 0;
}

static void reset(tr_text_calls *s)
{
    tr_buf_reset(&s->held);
    s->step = 0;
    s->pos = s->name_len = s->args_len = s->depth = 0;
    s->string = (tr_json_string){0};
}

/* The object's bytes: strings may hold any bracket, and a backslash-escaped quote. */
static verdict args_byte(tr_text_calls *s, char c)
{
    if (s->args_len == 0) {
        if (c != '{')
            return MISMATCH;
        s->args_at = s->held.len;
    }
    s->args_len++;
    if (tr_json_string_read(&s->string, c))
        return TAKE;
    if (c == '"')
        s->string.open = 1;
    else if (c == '{' || c == '[')
        s->depth++;
    else if ((c == '}' || c == ']') && --s->depth == 0)
        return COMPLETE; /* the step's end; the byte still belongs to it */
    return TAKE;
}

static verdict judge(tr_text_calls *s, char c)
{
    switch (form[s->step].kind) {
    case STEP_WORD:
        if (c != form[s->step].word[s->pos])
            return MISMATCH;
        return form[s->step].word[++s->pos] ? TAKE : COMPLETE;
    case STEP_SPACE:
        if (is_space(c)) {
            s->pos++;
            return TAKE;
        }
        return s->pos >= (apr_size_t) form[s->step].min ? NEXT : MISMATCH;
    case STEP_NAME:
        if (is_name_byte(c) && s->name_len < TR_TEXT_CALLS_MAX_NAME) {
            /* an unknown name is text as soon as no declared one can match it */
            s->name[s->name_len] = c;
            if (!name_known(s, s->name, s->name_len + 1, 0))
                return MISMATCH;
            s->name_len++;
            return TAKE;
        }
        return s->name_len && name_known(s, s->name, s->name_len, 1) ? NEXT : MISMATCH;
    case STEP_ARGS:
        return args_byte(s, c);
    }
    return MISMATCH;
}

static apr_status_t emit_held(tr_text_calls *s, const tr_text_calls_sink *sink)
{
    apr_status_t rv = APR_SUCCESS;

    if (s->held.len)
        rv = sink->text(sink->baton, s->held.data, s->held.len);
    reset(s);
    return rv;
}

/* The whole form matched: a call when its object is valid JSON, else text. */
static apr_status_t complete(tr_text_calls *s, const tr_text_calls_sink *sink)
{
    apr_status_t rv;

    if (!tr_json_is_document(s->held.data + s->args_at, s->args_len))
        return emit_held(s, sink);
    s->name[s->name_len] = '\0';
    rv = sink->call(sink->baton, s->name, s->held.data + s->args_at, s->args_len);
    reset(s);
    return rv;
}

apr_status_t tr_text_calls_feed(tr_text_calls *s, const char *text, apr_size_t len,
                                const tr_text_calls_sink *sink)
{
    apr_size_t i = 0;
    apr_status_t rv;

    while (i < len) {
        verdict v;

        if (s->held.len == 0) {
            /* Plain text up to the next '[' goes on at once. */
            const char *open = memchr(text + i, '[', len - i);
            apr_size_t run = open ? (apr_size_t) (open - (text + i)) : len - i;
            if (run && (rv = sink->text(sink->baton, text + i, run)) != APR_SUCCESS)
                return rv;
            i += run;
            if (i == len)
                break;
        }
        if (s->held.len && s->held.len >= s->max) {
            /* Too long to be held for a call any more: it goes on as text. */
            if ((rv = emit_held(s, sink)) != APR_SUCCESS)
                return rv;
            continue;
        }
        v = judge(s, text[i]);
        if (v == NEXT) {
            s->step++;
            s->pos = 0;
            continue; /* the same byte, on the next step */
        }
        if (v == MISMATCH) {
            /* the candidate is text; the byte is read again as text (a '[' may open the
             * next candidate) */
            if (!s->held.len) { /* cannot happen: a candidate starts at any '[' */
                if ((rv = sink->text(sink->baton, text + i++, 1)) != APR_SUCCESS)
                    return rv;
                continue;
            }
            if ((rv = emit_held(s, sink)) != APR_SUCCESS)
                return rv;
            continue;
        }
        if (tr_buf_add(&s->held, text + i, 1))
            return APR_ENOMEM;
        i++;
        if (v == COMPLETE && ++s->step == FORM_STEPS) {
            if ((rv = complete(s, sink)) != APR_SUCCESS)
                return rv;
        } else if (v == COMPLETE)
            s->pos = 0;
    }
    return APR_SUCCESS;
}

apr_status_t tr_text_calls_finish(tr_text_calls *s, const tr_text_calls_sink *sink)
{
    return emit_held(s, sink);
}
