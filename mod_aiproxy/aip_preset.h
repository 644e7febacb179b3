/*
 * aip_preset.h: well-known OpenAI-compatible providers, so an upstream can name one
 * (preset=openrouter) instead of spelling out its base URL, api type and endpoint path.
 *
 * The table is data (aip_preset.c); explicit settings of the upstream win over it.
 */
#ifndef AIP_PRESET_H
#define AIP_PRESET_H

typedef struct aip_preset {
    const char *name;     /* as written in preset= (compared ignoring case) */
    const char *base_url; /* scheme, host and the path before the API's own /v1/... */
    const char *api_type; /* the api type it speaks: "openai" for all of them today */
    const char *endpoint; /* exact chat path when it is not <base>/v1/chat/completions,
                           * or NULL */
} aip_preset;

/* The preset called name, or NULL. */
const aip_preset *aip_preset_find(const char *name);

/* The presets in table order, and how many there are (for messages and tests). */
const aip_preset *aip_preset_table(int *count);

#endif /* AIP_PRESET_H */
