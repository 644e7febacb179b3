/* aip_forward.c: see aip_forward.h. */
#include <string.h>
#include "apr_strings.h"
#include "aip_forward.h"

static const aip_forward_route forward_routes[] = {
    {"/v1/images/generations",
     AIP_FORWARD_JSON,
     AIP_FORWARD_ANSWER_WHOLE,
     0,
     {{"openai", "/v1/images/generations"}}},
    {"/v1/images/edits",
     AIP_FORWARD_MULTIPART,
     AIP_FORWARD_ANSWER_WHOLE,
     AIP_DEFAULT_MAX_UPLOAD,
     {{"openai", "/v1/images/edits"}}},
    {"/v1/audio/transcriptions",
     AIP_FORWARD_MULTIPART,
     AIP_FORWARD_ANSWER_WHOLE,
     AIP_DEFAULT_MAX_UPLOAD,
     {{"openai", "/v1/audio/transcriptions"}}},
    {"/v1/audio/translations",
     AIP_FORWARD_MULTIPART,
     AIP_FORWARD_ANSWER_WHOLE,
     AIP_DEFAULT_MAX_UPLOAD,
     {{"openai", "/v1/audio/translations"}}},
    {"/v1/audio/speech",
     AIP_FORWARD_JSON,
     AIP_FORWARD_ANSWER_STREAM,
     0,
     {{"openai", "/v1/audio/speech"}}},
    {"/v1/rerank",
     AIP_FORWARD_JSON,
     AIP_FORWARD_ANSWER_WHOLE,
     0,
     {{"cohere", "/v2/rerank"}, {"jina", "/v1/rerank"}, {"openai", "/v1/rerank"}}},
};

const aip_forward_route *aip_forward_route_for(const char *path)
{
    for (size_t i = 0; i < sizeof(forward_routes) / sizeof(forward_routes[0]); i++)
        if (!strcmp(path, forward_routes[i].path))
            return &forward_routes[i];
    return NULL;
}

const char *aip_forward_upstream_path(const aip_forward_route *fr, const char *api_type)
{
    for (int i = 0; i < AIP_FORWARD_MAX_TARGETS && fr->targets[i].api_type; i++)
        if (!strcmp(fr->targets[i].api_type, api_type))
            return fr->targets[i].path;
    return NULL;
}

const char *aip_forward_api_types(apr_pool_t *p, const aip_forward_route *fr)
{
    const char *list = fr->targets[0].api_type;
    for (int i = 1; i < AIP_FORWARD_MAX_TARGETS && fr->targets[i].api_type; i++)
        list = apr_pstrcat(p, list, ", ", fr->targets[i].api_type, NULL);
    return list;
}

apr_off_t aip_forward_max_body(const aip_forward_route *fr, const aip_config *cfg)
{
    if (cfg->max_body_set || !fr->default_max_body)
        return cfg->max_body;
    return fr->default_max_body;
}
