/* codec/tr_codec.c: protocol names and the codec table. */
#include <string.h>
#include "codec/tr_codec.h"

static const struct {
    const char *name;
    const tr_codec *codec;
} protocols[AIPROXY_PROTO_UPSTREAM_COUNT] = {
    [AIPROXY_PROTO_ANTHROPIC] = {"anthropic", &tr_anthropic_codec},
    [AIPROXY_PROTO_OPENAI] = {"openai", &tr_openai_codec},
    [AIPROXY_PROTO_RESPONSES] = {"responses", &tr_responses_codec},
    [AIPROXY_PROTO_GEMINI] = {"gemini", &tr_gemini_codec},
    [AIPROXY_PROTO_KIRO] = {"kiro", &tr_kiro_codec},
};

const char *aiproxy_proto_name(aiproxy_proto proto)
{
    return (unsigned) proto < AIPROXY_PROTO_UPSTREAM_COUNT ? protocols[proto].name : "unknown";
}

/* Client protocols only: a name chooses how a client speaks (AIProxyTranslate), which an
 * upstream-only protocol never is. */
int aiproxy_proto_from_name(const char *name, aiproxy_proto *out)
{
    for (int i = 0; name && i < AIPROXY_PROTO_COUNT; i++) {
        if (!strcasecmp(name, protocols[i].name)) {
            *out = (aiproxy_proto) i;
            return 0;
        }
    }
    return -1;
}

const tr_codec *tr_codec_for(aiproxy_proto proto)
{
    return (unsigned) proto < AIPROXY_PROTO_UPSTREAM_COUNT ? protocols[proto].codec : NULL;
}

const tr_codec *tr_codec_for_operation(aiproxy_proto proto, aiproxy_operation operation)
{
    const tr_codec *codec = tr_codec_for(proto);

    if (codec && operation == AIPROXY_OP_COMPLETE && codec->complete)
        return codec->complete;
    return codec;
}
