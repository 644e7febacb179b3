/*
 * mod_aiproxy_oauth_http.c: the POST of a refresh request to a token endpoint, and of a JSON
 * call to a provider's setup API (Code Assist project discovery), with libcurl.
 *
 * One easy handle per refresh (refreshes are rare, and a handle shares nothing between
 * threads): connect and total timeouts, TLS verification always on (the CA bundle settable),
 * the configured proxy only (the environment's proxy variables are ignored: an unset
 * AIProxyOAuthProxy means none), http and https only, no redirects (a token endpoint that
 * redirects is answered as a failure, so the refresh token goes nowhere else). The error
 * text is libcurl's fixed message for its code, never the answer.
 */
#include <curl/curl.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "mod_aiproxy_oauth.h"
#include "oa_authfile.h"

/* A token endpoint's answer is a small JSON object; anything longer is cut (and then fails
 * to parse, a transient failure). */
#define ANSWER_MAX (256 * 1024)

typedef struct {
    apr_pool_t *pool;
    oa_http_answer *out;
    apr_size_t cap;
} receive_ctx;

static size_t receive_body(char *data, size_t size, size_t n, void *baton)
{
    receive_ctx *ctx = baton;
    apr_size_t len = size * n, room = ANSWER_MAX - ctx->out->len;

    if (len > room)
        len = room;
    if (ctx->out->len + len + 1 > ctx->cap) {
        apr_size_t cap = (ctx->cap ? ctx->cap * 2 : 4096);
        char *grown;
        while (cap < ctx->out->len + len + 1)
            cap *= 2;
        grown = apr_palloc(ctx->pool, cap);
        if (ctx->out->len)
            memcpy(grown, ctx->out->body, ctx->out->len);
        ctx->out->body = grown;
        ctx->cap = cap;
    }
    memcpy(ctx->out->body + ctx->out->len, data, len);
    ctx->out->len += len;
    ctx->out->body[ctx->out->len] = '\0';
    return size * n; /* the rest is dropped, not an error */
}

/* "Name: value" lines into the headers table (Retry-After is what the parser reads). */
static size_t receive_header(char *data, size_t size, size_t n, void *baton)
{
    receive_ctx *ctx = baton;
    size_t len = size * n;
    char *line = apr_pstrmemdup(ctx->pool, data, len), *colon = strchr(line, ':');

    if (colon && colon != line) {
        char *value = colon + 1, *end;
        *colon = '\0';
        while (apr_isspace(*value))
            value++;
        for (end = value + strlen(value); end > value && apr_isspace(end[-1]); end--)
            end[-1] = '\0';
        apr_table_add(ctx->out->headers, line, value);
    } else if (!strncmp(line, "HTTP/", 5)) {
        apr_table_clear(ctx->out->headers); /* a new status line: an interim answer ended */
    }
    return len;
}

/* POST body (len bytes) to url with the header lines given, into out. */
static void post(apr_pool_t *p, const oa_server_conf *conf, const char *url,
                 struct curl_slist *headers, const char *body, apr_size_t len, oa_http_answer *out)
{
    CURL *curl = curl_easy_init();
    receive_ctx ctx = {p, out, 0};
    CURLcode rc;
    long status = 0;

    memset(out, 0, sizeof(*out));
    out->headers = apr_table_make(p, 8);
    if (!curl) {
        out->error = "libcurl could not make a handle";
        curl_slist_free_all(headers);
        return;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, conf->connect_timeout);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, conf->total_timeout);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (conf->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, conf->ca_file);
    curl_easy_setopt(curl, CURLOPT_PROXY, conf->proxy); /* "": none, whatever the environment */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, receive_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ctx);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, receive_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ctx);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        out->status = (int) status;
    } else {
        out->error = apr_pstrdup(p, curl_easy_strerror(rc));
        out->len = 0;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

void oa_http_post(apr_pool_t *p, const oa_server_conf *conf, const oa_refresh_request *req,
                  oa_http_answer *out)
{
    struct curl_slist *headers = NULL;

    headers = curl_slist_append(headers, apr_pstrcat(p, "Content-Type: ", req->content_type, NULL));
    headers = curl_slist_append(headers, apr_pstrcat(p, "Accept: ", req->accept, NULL));
    headers = curl_slist_append(headers, "User-Agent: mod_aiproxy_oauth");
    post(p, conf, req->url, headers, req->body, req->body_len, out);
}

typedef struct {
    apr_pool_t *pool;
    struct curl_slist *list;
} header_list;

/* One "name: value" line of the table into the list. */
static int add_header(void *baton, const char *name, const char *value)
{
    header_list *h = baton;

    h->list = curl_slist_append(h->list, apr_pstrcat(h->pool, name, ": ", value, NULL));
    return 1;
}

void oa_http_post_json(apr_pool_t *p, const oa_server_conf *conf, const char *url,
                       const apr_table_t *headers, const char *body, oa_http_answer *out)
{
    header_list h = {p, NULL};

    h.list = curl_slist_append(h.list, "Content-Type: application/json");
    h.list = curl_slist_append(h.list, "Accept: application/json");
    if (headers)
        apr_table_do(add_header, &h, headers, NULL);
    post(p, conf, url, h.list, body, strlen(body), out);
}
