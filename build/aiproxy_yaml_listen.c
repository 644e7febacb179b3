/*
 * aiproxy_yaml_listen.c: out/aiproxy-yaml-listen CONFIG prints "HOST PORT" of a seed-format
 * config.yaml's bind/listen for `make run CONFIG=...` (build/run-demo.sh), after checking the
 * whole file with the module's own YAML core (errors as file:line:column). It links
 * libaiproxy_router.a, so the core is compiled once for the module and this tool alike.
 */
#include <stdio.h>
#include "apr_general.h"
#include "apr_pools.h"
#include "aip_yaml.h"

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    aip_yaml_config *cfg;
    aip_yaml_error err;
    const char *host, *msg;
    int port, rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: aiproxy-yaml-listen /path/config.yaml\n");
        return 2;
    }
    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS ||
        apr_pool_create(&p, NULL) != APR_SUCCESS)
        return 1;
    if ((cfg = aip_yaml_load(p, argv[1], &err)) == NULL)
        fprintf(stderr, "%s\n", aip_yaml_error_string(p, &err));
    else if ((msg = aip_yaml_listen_address(p, cfg, &host, &port)) != NULL)
        fprintf(stderr, "%s: %s\n", argv[1], msg);
    else {
        printf("%s %d\n", host, port);
        rc = 0;
    }
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
