/* oa_provider.c: see oa_provider.h. */
#include <string.h>
#include "apr_strings.h"
#include "oa_provider.h"

static const char *const provider_names[OA_PROVIDER_COUNT] = {
    [OA_PROVIDER_CODEX] = "codex",         [OA_PROVIDER_CLAUDECODE] = "claudecode",
    [OA_PROVIDER_GEMINICLI] = "geminicli", [OA_PROVIDER_ANTIGRAVITY] = "antigravity",
    [OA_PROVIDER_KIRO] = "kiro",
};

/* "type" values of the aiproxy (Go) and CLIProxyAPI auth files beyond the api type names. */
static const struct {
    const char *type;
    oa_provider provider;
} file_type_aliases[] = {
    {"claude", OA_PROVIDER_CLAUDECODE},
    {"claude-code", OA_PROVIDER_CLAUDECODE},
    {"gemini", OA_PROVIDER_GEMINICLI},
    {"gemini-cli", OA_PROVIDER_GEMINICLI},
};

const char *oa_provider_name(oa_provider provider)
{
    if (provider < 0 || provider >= OA_PROVIDER_COUNT)
        return "none";
    return provider_names[provider];
}

oa_provider oa_provider_from_name(const char *api_type)
{
    for (int i = 0; api_type && i < OA_PROVIDER_COUNT; i++) {
        if (!strcasecmp(api_type, provider_names[i]))
            return (oa_provider) i;
    }
    return OA_PROVIDER_NONE;
}

oa_provider oa_provider_from_file_type(const char *type)
{
    oa_provider provider = oa_provider_from_name(type);

    for (size_t i = 0; type && provider == OA_PROVIDER_NONE &&
                       i < sizeof(file_type_aliases) / sizeof(file_type_aliases[0]);
         i++) {
        if (!strcasecmp(type, file_type_aliases[i].type))
            provider = file_type_aliases[i].provider;
    }
    return provider;
}
