/*
 * aiproxy_log.h: message numbers for the suite's error-log lines.
 *
 * As httpd's own modules tag each message with APLOGNO (AH01234), every ap_log_*error call of
 * the suite starts its format with AIPLOGNO(n): "AIP01234: ", searchable in logs and in the
 * source, and unique (test/integration/test_log_numbers.py checks). Numbers are taken per file
 * from its range, the next free one at the end:
 *   mod_aiproxy.c 00100, mod_aiproxy_handler.c 00200, mod_aiproxy_attempt.c 00300,
 *   mod_aiproxy_breaker.c 00400, mod_aiproxy_compress.c 00500, mod_aiproxy_yaml.c 00600,
 *   mod_aiproxy_lbmethod.c 00700, mod_aiproxy_credential.c 00800,
 *   mod_aiproxy_health.c 00900, mod_aiproxy_limits.c 01000, mod_aiproxy_translate.c 01100,
 *   mod_aiproxy_translate_location.c 01200, mod_aiproxy_oauth*.c 02000,
 *   mod_aiproxy_metrics.c 03000.
 */
#ifndef AIPROXY_LOG_H
#define AIPROXY_LOG_H

#define AIPLOGNO(n) "AIP" #n ": "

/* Further ranges: mod_aiproxy_shared.c 03100. */

#endif /* AIPROXY_LOG_H */
