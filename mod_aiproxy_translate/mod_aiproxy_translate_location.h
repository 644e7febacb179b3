/*
 * mod_aiproxy_translate_location.h: what the module's two glue files share.
 *
 * mod_aiproxy_translate.c owns the module record and the response output filter;
 * mod_aiproxy_translate_location.c owns the standalone mode (AIProxyTranslate in a
 * <Location> with plain ProxyPass) and plugs its directives, per-directory config and hooks
 * into that record through these declarations.
 */
#ifndef MOD_AIPROXY_TRANSLATE_LOCATION_H
#define MOD_AIPROXY_TRANSLATE_LOCATION_H

#include "httpd.h"
#include "http_config.h"
#include "aiproxy_translate.h"

extern module AP_MODULE_DECLARE_DATA aiproxy_translate_module;

/* The response output filter of mod_aiproxy_translate.c (see add_response_filter in
 * mod_aiproxy_translate.h). */
void aiproxy_translate_add_response_filter(request_rec *r, aiproxy_response *t, int *swallowed);

extern const command_rec aiproxy_translate_location_cmds[];
void *aiproxy_translate_location_create_dir_config(apr_pool_t *p, char *dir);
void *aiproxy_translate_location_merge_dir_config(apr_pool_t *p, void *base, void *add);
void aiproxy_translate_location_register_hooks(apr_pool_t *p);

#endif /* MOD_AIPROXY_TRANSLATE_LOCATION_H */
