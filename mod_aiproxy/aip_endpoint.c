/* aip_endpoint.c: see aip_endpoint.h. */
#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_endpoint.h"

#define MODEL_PLACEHOLDER  "{model}"
#define METHOD_PLACEHOLDER "{method}"

const char *aip_endpoint_check(apr_pool_t *p, const char *template)
{
    if (template[0] != '/')
        return apr_psprintf(p, "endpoint=%s: expected a path starting with /", template);
    for (const char *c = template; *c; c++) {
        if (apr_iscntrl(*c) || *c == ' ')
            return apr_psprintf(p, "endpoint=%s: no spaces or control characters", template);
    }
    return NULL;
}

/* The model as one path segment: refused when it could climb or split the path (".", "..",
 * '/', '\\'), else
 * percent-encoded outside RFC 3986's unreserved characters. */
static const char *model_segment(apr_pool_t *p, const char *model, const char **err)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out, *o;

    if (!*model || !strcmp(model, ".") || strchr(model, '/') || strchr(model, '\\') ||
        strstr(model, "..")) {
        *err = apr_psprintf(p, "model '%s' cannot be part of the upstream's endpoint path", model);
        return NULL;
    }
    o = out = apr_palloc(p, strlen(model) * 3 + 1);
    for (const unsigned char *c = (const unsigned char *) model; *c; c++) {
        if (apr_iscntrl(*c) || *c == ' ') {
            *err = "a model name with spaces or control characters cannot be part of the "
                   "upstream's endpoint path";
            return NULL;
        }
        if (apr_isalnum(*c) || strchr("-._~", *c)) {
            *o++ = (char) *c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* A placeholder of the template and what it stands for in this request. */
typedef struct {
    const char *name;  /* "{model}" */
    const char *value; /* its expansion; NULL: not available */
} placeholder;

int aip_endpoint_has_method(const char *template)
{
    return strstr(template, METHOD_PLACEHOLDER) != NULL;
}

const char *aip_endpoint_expand(apr_pool_t *p, const char *template, const char *model,
                                const char *method, const char **path, const char **query)
{
    const char *err = NULL, *qmark;
    placeholder holders[] = {{MODEL_PLACEHOLDER, NULL}, {METHOD_PLACEHOLDER, method}};
    char *expanded = "";
    const char *rest = template;

    if (strstr(template, MODEL_PLACEHOLDER) && !(holders[0].value = model_segment(p, model, &err)))
        return err;
    for (;;) {
        const char *at = NULL;
        const placeholder *next = NULL;
        for (size_t i = 0; i < sizeof(holders) / sizeof(holders[0]); i++) {
            const char *found = strstr(rest, holders[i].name);
            if (found && (!at || found < at)) {
                at = found;
                next = &holders[i];
            }
        }
        if (!next)
            break;
        if (!next->value)
            return apr_psprintf(p, "endpoint %s: %s has no value for this request", template,
                                next->name);
        expanded = apr_pstrcat(p, expanded, apr_pstrmemdup(p, rest, (apr_size_t) (at - rest)),
                               next->value, NULL);
        rest = at + strlen(next->name);
    }
    expanded = apr_pstrcat(p, expanded, rest, NULL);
    qmark = strchr(expanded, '?');
    *path = qmark ? apr_pstrmemdup(p, expanded, (apr_size_t) (qmark - expanded)) : expanded;
    *query = qmark && qmark[1] ? qmark + 1 : NULL;
    return NULL;
}
