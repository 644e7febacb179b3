/* oa_refresh_request.c: the request half of oa_refresh.h. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "apr_escape.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "oa_refresh.h"
#include "oa_refresh_dialect.h"

#define OA_DEFAULT_REGION "us-east-1"
#define OA_REGION_MAX     32

/* The credential's region when it is a plain AWS region name ("eu-west-1"), which is put in
 * a host name; NULL otherwise. */
static const char *region_of(const oa_credential *cred)
{
    const char *r = cred->region ? cred->region : OA_DEFAULT_REGION;
    size_t n = strlen(r);

    if (n == 0 || n > OA_REGION_MAX || r[0] == '-' || r[n - 1] == '-')
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!apr_islower(r[i]) && !apr_isdigit(r[i]) && r[i] != '-')
            return NULL;
    }
    return r;
}

/* url with every "{region}" replaced. */
static const char *expand_url(apr_pool_t *p, const char *url, const char *region)
{
    const char *at = strstr(url, "{region}");
    if (!at)
        return url;
    return apr_pstrcat(p, apr_pstrmemdup(p, url, (apr_size_t) (at - url)), region,
                       expand_url(p, at + strlen("{region}"), region), NULL);
}

/* The value of a body field: the override, else the credential's own, else the default. */
static const char *field_value(const oa_body_field *f, const oa_refresh_dialect *d,
                               const oa_credential *cred, const oa_refresh_settings *s)
{
    switch (f->value) {
    case OA_VALUE_GRANT_TYPE:
        return "refresh_token";
    case OA_VALUE_REFRESH_TOKEN:
        return cred->refresh_token;
    case OA_VALUE_CLIENT_ID:
        return s->client_id ? s->client_id : cred->client_id ? cred->client_id : d->client_id;
    case OA_VALUE_CLIENT_SECRET:
        return s->client_secret      ? s->client_secret
               : cred->client_secret ? cred->client_secret
                                     : d->client_secret;
    case OA_VALUE_SCOPE:
        return s->scope ? s->scope : d->scope;
    }
    return NULL;
}

static const char *json_body(apr_pool_t *p, const oa_refresh_dialect *d, const oa_credential *cred,
                             const oa_refresh_settings *s)
{
    json_t *obj = json_object();
    char *text;
    const char *body;

    for (const oa_body_field *f = d->body; f->key; f++) {
        const char *v = field_value(f, d, cred, s);
        if (v)
            json_object_set_new(obj, f->key, json_string(v));
    }
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    body = text ? apr_pstrdup(p, text) : NULL;
    free(text);
    return body;
}

static const char *form_body(apr_pool_t *p, const oa_refresh_dialect *d, const oa_credential *cred,
                             const oa_refresh_settings *s)
{
    const char *body = "";

    for (const oa_body_field *f = d->body; f->key; f++) {
        const char *v = field_value(f, d, cred, s);
        if (v)
            body = apr_pstrcat(p, body, *body ? "&" : "", f->key, "=", apr_pescape_urlencoded(p, v),
                               NULL);
    }
    return body;
}

int oa_refresh_request_build(apr_pool_t *p, const oa_credential *cred,
                             const oa_refresh_settings *settings, oa_refresh_request *out,
                             const char **err)
{
    static const oa_refresh_settings no_settings = {NULL, NULL, NULL, NULL};
    const oa_refresh_settings *s = settings ? settings : &no_settings;
    const oa_refresh_dialect *d = oa_refresh_dialect_for(cred);
    const char *url, *region;

    memset(out, 0, sizeof(*out));
    if (!d) {
        *err = "no token endpoint for this provider";
        return -1;
    }
    if (!cred->refresh_token) {
        *err = "the credential has no refresh token";
        return -1;
    }
    url = s->token_url ? s->token_url : d->token_url;
    if (strstr(url, "{region}")) {
        if (!(region = region_of(cred))) {
            *err = "the credential's region is not an AWS region name";
            return -1;
        }
        url = expand_url(p, url, region);
    }
    out->url = url;
    out->accept = "application/json";
    if (d->encoding == OA_BODY_FORM) {
        out->content_type = "application/x-www-form-urlencoded";
        out->body = form_body(p, d, cred, s);
    } else {
        out->content_type = "application/json";
        out->body = json_body(p, d, cred, s);
    }
    if (!out->body) {
        *err = "the refresh request could not be built";
        return -1;
    }
    out->body_len = strlen(out->body);
    return 0;
}
