/* aip_base_fallback.c: see aip_base_fallback.h. */
#include <string.h>
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_base_fallback.h"

/* The older CodeWhisperer endpoint speaks the AWS JSON protocol: its content type and the
 * operation's target. The body stays Kiro IDE's, whose origin AI_EDITOR is the one this
 * target takes (a mismatch is refused with 403, research/oauth.md §5). */
static const aip_header codewhisperer_headers[] = {
    {"Content-Type", "application/x-amz-json-1.0"},
    {"X-Amz-Target", "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"},
    {NULL, NULL},
};

/* One fallback position of an api type: its default URL, and how it is spoken to. */
typedef struct {
    const char *url;
    const aip_header *headers; /* NULL: as the base URL is */
} fallback_row;

static const struct {
    const char *api_type;
    unsigned int triggers;
    fallback_row fallbacks[2]; /* ends at a NULL url */
} api_fallbacks[] = {
    {"kiro",
     AIP_FALLBACK_ON_NO_RESPONSE | AIP_FALLBACK_ON_429,
     {{"https://codewhisperer.us-east-1.amazonaws.com", codewhisperer_headers}, {NULL, NULL}}},
    {"antigravity",
     AIP_FALLBACK_ON_NO_RESPONSE | AIP_FALLBACK_ON_429 | AIP_FALLBACK_ON_NO_CAPACITY,
     {{"https://cloudcode-pa.googleapis.com", NULL}, {NULL, NULL}}},
};

static int api_row(const aip_upstream *up)
{
    for (size_t i = 0; i < sizeof(api_fallbacks) / sizeof(api_fallbacks[0]); i++) {
        if (!strcmp(up->api_type, api_fallbacks[i].api_type))
            return (int) i;
    }
    return -1;
}

const char *aip_base_fallback_set(apr_pool_t *p, aip_upstream *up, const char *value)
{
    char *copy = apr_pstrdup(p, value), *state = NULL;

    up->fallback_set = 1;
    if (!strcasecmp(value, "off")) {
        apr_array_clear(up->fallback_urls);
        return NULL;
    }
    for (char *url = apr_strtok(copy, ",", &state); url; url = apr_strtok(NULL, ",", &state)) {
        apr_size_t len;
        while (apr_isspace(*url))
            url++;
        len = strlen(url);
        while (len && (apr_isspace(url[len - 1]) || url[len - 1] == '/'))
            url[--len] = '\0'; /* the request path is appended, as to the base URL */
        if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
            return apr_psprintf(p, "fallback_base=%s: expected off or http(s):// URLs", value);
        if (up->fallback_urls->nelts >= AIP_MAX_FALLBACK_BASES)
            return apr_psprintf(p, "fallback_base=: at most %d fallback base URLs",
                                AIP_MAX_FALLBACK_BASES);
        APR_ARRAY_PUSH(up->fallback_urls, const char *) = url;
    }
    if (up->fallback_urls->nelts == 0)
        return "fallback_base= needs a URL (or off)";
    return NULL;
}

const char *aip_base_fallback_check(apr_pool_t *p, const aip_upstream *up)
{
    if (up->fallback_urls->nelts && api_row(up) < 0)
        return apr_psprintf(p, "upstream '%s': fallback_base= is for api=kiro and api=antigravity",
                            up->name);
    return NULL;
}

void aip_base_fallback_resolve(apr_pool_t *p, aip_upstream *up, int default_base)
{
    int row = api_row(up), last = 0;
    const fallback_row *rows;

    apr_array_clear(up->fallbacks);
    up->fallback_triggers = 0;
    if (row < 0)
        return;
    rows = api_fallbacks[row].fallbacks;
    while (rows[last + 1].url)
        last++;
    up->fallback_triggers = api_fallbacks[row].triggers;
    if (up->fallback_set) {
        /* the administrator's URLs, each spoken to as the row's position says (positions past
         * the row's last take its last) */
        for (int i = 0; i < up->fallback_urls->nelts; i++) {
            aip_fallback_base *fb = apr_array_push(up->fallbacks);
            fb->url = APR_ARRAY_IDX(up->fallback_urls, i, const char *);
            fb->headers = rows[i < last ? i : last].headers;
        }
    } else if (default_base) {
        for (int i = 0; rows[i].url; i++) {
            aip_fallback_base *fb = apr_array_push(up->fallbacks);
            fb->url = rows[i].url;
            fb->headers = rows[i].headers;
        }
    }
    for (int i = 0; i < up->fallbacks->nelts; i++)
        APR_ARRAY_IDX(up->fallbacks, i, aip_fallback_base).route =
            apr_psprintf(p, "%s-fallback%d", up->name, i + 1);
}

int aip_base_fallback_wanted(const aip_upstream *up, aip_failure_kind kind, int status,
                             const char *body, apr_size_t len)
{
    if (kind == AIP_FAILURE_NO_RESPONSE)
        return aip_fallback_triggered(up->fallback_triggers, 0, NULL, 0);
    if (kind != AIP_FAILURE_STATUS || status <= 0)
        return 0; /* an error event: another endpoint would not change it */
    return aip_fallback_triggered(up->fallback_triggers, status, body, len);
}
