/*
 * fuzz_endpoint: endpoint= templates (aip_endpoint.c) with a client-chosen model.
 *
 * Input: one flags byte (bit 0: the protocol has a method, "streamGenerateContent"), the
 * template, a NUL byte, then the model (no NUL: the rest of the input). The template is used
 * only when aip_endpoint_check accepts it, as at startup.
 *
 * Oracles (the model comes from the client and must not change the URL's shape):
 *  - a refusal always has a message, and sets neither path nor query;
 *  - an expanded path never carries a control character or a space, and has as many '/' and
 *    '#' (and no '?') as the template's path part with its placeholders taken out: the model
 *    adds none, so it can neither climb, nor start a query, nor end the path;
 *  - the expansion is exactly the template with each {model} the model percent-encoded
 *    outside the unreserved characters and each {method} the method (an independent
 *    implementation), split at its first '?';
 *  - refused exactly when the template names {model} and the model is empty, ".", or holds
 *    "..", '/', '\\', a space or a control character, or names {method} and there is none;
 *  - the query is the expanded text after the first '?', or NULL when that is empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apr_general.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_endpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, const char *template, const char *model)
{
    fprintf(stderr, "fuzz_endpoint: %s\ntemplate: \"%s\"\nmodel: \"%s\"\n", what, template, model);
    abort();
}

/* Written independently of aip_endpoint.c: may model go into a path segment at all? */
static int model_allowed(const char *model)
{
    if (!*model || !strcmp(model, ".") || strstr(model, "..") || strpbrk(model, "/\\ "))
        return 0;
    for (const unsigned char *c = (const unsigned char *) model; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            return 0;
    }
    return 1;
}

static size_t count_of(const char *s, const char *set)
{
    size_t count = 0;
    for (; *s; s++)
        count += strchr(set, *s) != NULL;
    return count;
}

/* The expansion, written independently of aip_endpoint.c: placeholders left to right in the
 * template, the model encoded outside the unreserved characters as %XX. */
static const char *expected(apr_pool_t *p, const char *template, const char *model,
                            const char *method)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(template) * (strlen(model) * 3 + strlen(method) + 1) + 1);
    char *o = out;

    for (const char *t = template; *t;) {
        if (!strncmp(t, "{model}", 7)) {
            for (const unsigned char *m = (const unsigned char *) model; *m; m++) {
                if (apr_isalnum(*m) || (*m && strchr("-._~", *m))) {
                    *o++ = (char) *m;
                } else {
                    *o++ = '%';
                    *o++ = hex[*m >> 4];
                    *o++ = hex[*m & 15];
                }
            }
            t += 7;
        } else if (!strncmp(t, "{method}", 8)) {
            o = stpcpy(o, method);
            t += 8;
        } else {
            *o++ = *t++;
        }
    }
    *o = '\0';
    return out;
}

/* template's path part (before its first '?') with the placeholders taken out */
static const char *path_literals(apr_pool_t *p, const char *template)
{
    char *s = apr_pstrndup(p, template, strcspn(template, "?"));
    static const char *const holders[] = {"{model}", "{method}"};

    for (size_t i = 0; i < 2; i++) {
        char *at;
        while ((at = strstr(s, holders[i])) != NULL)
            memmove(at, at + strlen(holders[i]), strlen(at + strlen(holders[i])) + 1);
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *root;
    apr_pool_t *p;
    const char *nul = size ? memchr(data + 1, '\0', size - 1) : NULL;
    const char *end = (const char *) data + size;
    const char *template, *model, *method, *path = NULL, *query = NULL, *err, *want, *qmark;
    const char *literals;
    size_t plen;
    int refusal;

    if (!root) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    if (!nul)
        return 0;
    apr_pool_create(&p, root);
    template =
        apr_pstrmemdup(p, (const char *) data + 1, (apr_size_t) (nul - (const char *) data - 1));
    model = apr_pstrmemdup(p, nul + 1, (apr_size_t) (end - nul - 1));
    /* a NUL inside the model ends it early: not a distinct input */
    if (strlen(model) != (size_t) (end - nul - 1) || aip_endpoint_check(p, template)) {
        apr_pool_destroy(p);
        return 0;
    }
    method = (data[0] & 1) ? "streamGenerateContent" : NULL;
    err = aip_endpoint_expand(p, template, model, method, &path, &query);
    refusal = (strstr(template, "{model}") && !model_allowed(model)) ||
              (strstr(template, "{method}") && !method);
    if (!err != !refusal)
        broken(err ? "an allowed expansion refused" : "a refused expansion allowed", template,
               model);
    if (err) {
        if (!*err || path || query)
            broken("a refusal without a message, or with a path", template, model);
        apr_pool_destroy(p);
        return 0;
    }
    if (!path || (query && !*query))
        broken("no path, or an empty query", template, model);
    /* exactly the independent expansion, split at its first '?' */
    want = expected(p, template, model, method ? method : "");
    qmark = strchr(want, '?');
    plen = qmark ? (size_t) (qmark - want) : strlen(want);
    if (strlen(path) != plen || strncmp(path, want, plen))
        broken("the path is not the template expanded", template, model);
    if (!(qmark && qmark[1]) != !query || (query && strcmp(query, qmark + 1)))
        broken("the query is not the template's", template, model);
    for (const char *c = path; *c; c++) {
        if (apr_iscntrl(*c) || *c == ' ')
            broken("a control character or space in the path", template, model);
    }
    /* the model adds no separator: it can neither climb, nor start a query, nor end the path */
    literals = path_literals(p, template);
    if (count_of(path, "/") != count_of(literals, "/") ||
        count_of(path, "#") != count_of(literals, "#") || strchr(path, '?'))
        broken("the model changed the path's shape", template, model);
    apr_pool_destroy(p);
    return 0;
}
