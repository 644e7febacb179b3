/*
 * oa_provider.h: the OAuth subscription providers (api types) mod_aiproxy_oauth serves, and
 * their names as config and as auth files spell them.
 */
#ifndef OA_PROVIDER_H
#define OA_PROVIDER_H

typedef enum {
    OA_PROVIDER_NONE = -1, /* not known (yet): a file that does not say, no hint given */
    OA_PROVIDER_CODEX = 0,
    OA_PROVIDER_CLAUDECODE,
    OA_PROVIDER_GEMINICLI,
    OA_PROVIDER_ANTIGRAVITY,
    OA_PROVIDER_KIRO,
    OA_PROVIDER_COUNT
} oa_provider;

/* The api type of the config ("codex", "claudecode", ...) for provider; "none" out of range. */
const char *oa_provider_name(oa_provider provider);
/* The provider of an api type name (case-insensitive); OA_PROVIDER_NONE when unknown. */
oa_provider oa_provider_from_name(const char *api_type);
/* The provider of an auth file's "type" field, which the proxies spell their own way
 * ("claude", "gemini", ...) besides the api type names; OA_PROVIDER_NONE when unknown. */
oa_provider oa_provider_from_file_type(const char *type);

#endif /* OA_PROVIDER_H */
