/* AIProxyMockRequireKey: the credential must arrive in the header style of the provider:
 * anthropic x-api-key or Authorization: Bearer; openai and responses Authorization: Bearer;
 * gemini x-goog-api-key or ?key=. GET .../models accepts any of these. */
#include <string.h>
#include <strings.h>

#include "mock.h"

static int key_listed(const apr_array_header_t *keys, const char *value)
{
    if (!value) {
        return 0;
    }
    for (int i = 0; i < keys->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(keys, i, const char *), value) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *mock_bearer_token(apr_table_t *headers_in)
{
    const char *auth = apr_table_get(headers_in, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        return NULL;
    }
    auth += 7;
    while (*auth == ' ') {
        auth++;
    }
    return auth;
}

int mock_auth_ok(apr_pool_t *p, mock_proto proto, mock_endpoint ep, apr_table_t *headers_in,
                 const char *query, const apr_array_header_t *keys)
{
    int bearer = 0, x_api_key = 0, goog = 0;

    if (!keys || keys->nelts == 0) {
        return 1;
    }
    if (ep == MOCK_EP_MODELS || ep == MOCK_EP_NONE) {
        bearer = x_api_key = goog = 1;
    } else if (proto == MOCK_ANTHROPIC) {
        bearer = x_api_key = 1;
    } else if (proto == MOCK_GEMINI) {
        goog = 1;
    } else {
        bearer = 1;
    }
    return (bearer && key_listed(keys, mock_bearer_token(headers_in))) ||
           (x_api_key && key_listed(keys, apr_table_get(headers_in, "x-api-key"))) ||
           (goog && key_listed(keys, apr_table_get(headers_in, "x-goog-api-key"))) ||
           (goog && key_listed(keys, mock_query_param(p, query, "key")));
}
