/*
 * aip_preset.c: the provider preset table. Each row was checked against the provider's
 * public documentation of its OpenAI-compatible base URL; the base URL here stops where
 * the gateway's own "/v1/chat/completions" begins, and providers whose chat path does not
 * end that way carry it as the endpoint.
 */
#include <stddef.h>
#include <strings.h>
#include "aip_preset.h"

static const aip_preset presets[] = {
    {"openrouter", "https://openrouter.ai/api", "openai", NULL},
    {"groq", "https://api.groq.com/openai", "openai", NULL},
    {"deepseek", "https://api.deepseek.com", "openai", NULL},
    {"mistral", "https://api.mistral.ai", "openai", NULL},
    {"together", "https://api.together.xyz", "openai", NULL},
    {"fireworks", "https://api.fireworks.ai/inference", "openai", NULL},
    {"novita", "https://api.novita.ai/openai", "openai", NULL},
    {"siliconflow", "https://api.siliconflow.cn", "openai", NULL},
    {"siliconflow-intl", "https://api.siliconflow.com", "openai", NULL},
    {"xai", "https://api.x.ai", "openai", NULL},
    {"moonshot", "https://api.moonshot.ai", "openai", NULL},
    {"moonshot-cn", "https://api.moonshot.cn", "openai", NULL},
    {"dashscope", "https://dashscope.aliyuncs.com/compatible-mode", "openai", NULL},
    {"qwen", "https://dashscope.aliyuncs.com/compatible-mode", "openai", NULL},
    {"dashscope-intl", "https://dashscope-intl.aliyuncs.com/compatible-mode", "openai", NULL},
    {"zhipu", "https://open.bigmodel.cn", "openai", "/api/paas/v4/chat/completions"},
    {"zai", "https://api.z.ai", "openai", "/api/paas/v4/chat/completions"},
    {"ark", "https://ark.cn-beijing.volces.com", "openai", "/api/v3/chat/completions"},
    {"doubao", "https://ark.cn-beijing.volces.com", "openai", "/api/v3/chat/completions"},
    {"kilo", "https://api.kilo.ai", "openai", "/api/gateway/chat/completions"},
    {"kilocode", "https://api.kilo.ai", "openai", "/api/gateway/chat/completions"},
    {"ollama", "http://localhost:11434", "openai", NULL},
    {"vllm", "http://localhost:8000", "openai", NULL},
    {"lmstudio", "http://localhost:1234", "openai", NULL},
    {"lm-studio", "http://localhost:1234", "openai", NULL},
};

const aip_preset *aip_preset_find(const char *name)
{
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (!strcasecmp(name, presets[i].name))
            return &presets[i];
    }
    return NULL;
}

const aip_preset *aip_preset_table(int *count)
{
    *count = (int) (sizeof(presets) / sizeof(presets[0]));
    return presets;
}
