/*
 * fuzz_yaml.c: libFuzzer harness for the config.yaml importer (mod_aiproxy/aip_yaml.c).
 *
 * Any bytes must give either a configuration or an error naming a place in the file, never a
 * crash, a hang or a leak; a configuration must answer aip_yaml_listen_address and the route
 * name helper without failing.
 */
#include <stdint.h>
#include <string.h>
#include "apr_general.h"
#include "apr_pools.h"
#include "aip_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialized;
    apr_pool_t *p;
    aip_yaml_error err;
    aip_yaml_config *cfg;

    if (!initialized) {
        apr_initialize();
        initialized = 1;
    }
    apr_pool_create(&p, NULL);
    memset(&err, 0, sizeof(err));
    cfg = aip_yaml_parse(p, "fuzz.yaml", (const char *) data, size, &err);
    if (cfg) {
        const char *host;
        int port;
        aip_yaml_listen_address(p, cfg, &host, &port);
        for (int i = 0; i < cfg->upstreams->nelts; i++) {
            const aip_yaml_upstream *up = &APR_ARRAY_IDX(cfg->upstreams, i, aip_yaml_upstream);
            if (up->name.value)
                aip_yaml_route_name(p, up->name.value);
        }
    }
    else if (!err.message || !aip_yaml_error_string(p, &err)) {
        __builtin_trap(); /* a refusal must always say why */
    }
    apr_pool_destroy(p);
    return 0;
}
