/*
 * aip_yaml.h: read a seed-format config.yaml (missdeer/aiproxy) into plain data.
 *
 * Pure core: libyaml and APR only, no httpd headers, so every rule is unit-tested without a
 * server. mod_aiproxy_yaml.c turns the result into the configuration the directives build.
 *
 * What the parser guarantees on success:
 *   - every field of the seed format is read, defaults applied (aiproxy at HEAD):
 *     bind 127.0.0.1, listen :8080, default_max_tokens 4096, upstream_request_timeout 60,
 *     log max_size 100 / max_backups 3 / max_age 28, upstream enabled, weight 1,
 *     api_type anthropic, request_compression none;
 *   - "string or list" fields (token, api-key, available_models, auth_files) are lists;
 *   - values are validated: api types, compressions, integers, required fields per api type,
 *     duplicate upstream names (ignoring case), duplicate header names (ignoring case),
 *     fallback cycles, duplicate keys of one mapping;
 *   - every value keeps its position (1-based line and column) so later checks can point at it.
 * On failure: one error with the position of the offending value (never a crash or a leak,
 * whatever the input: sizes, nesting and alias expansion are bounded).
 *
 * Unknown keys are warnings, not errors: aiproxy (Go, yaml.v3 without KnownFields) ignores
 * them, so a working config.yaml keeps loading (the README still shows the removed
 * must_stream), while the warning makes a typo visible in the error log.
 */
#ifndef AIP_YAML_H
#define AIP_YAML_H

#include "apr_pools.h"
#include "apr_tables.h"

/* Largest config file read (a real one is a few KiB). */
#define AIP_YAML_MAX_FILE (4 * 1024 * 1024)
/* Deepest nesting of lists and mappings accepted (the format itself needs 4). */
#define AIP_YAML_MAX_DEPTH 32
/* Values read in all, aliases counted each time they are used (stops "billion laughs"). */
#define AIP_YAML_MAX_VALUES 200000

/* A position in the file, both 1-based; line 0 means "no position" (a default). */
typedef struct {
    int line;
    int column;
} aip_yaml_mark;

/* One item of a string list. */
typedef struct {
    const char *value;
    aip_yaml_mark mark;
} aip_yaml_item;

/* One entry of a string-to-string map, in file order. */
typedef struct {
    const char *key;
    const char *value;
    aip_yaml_mark mark; /* the key's position */
} aip_yaml_pair;

/* An integer setting and where it was written (mark.line 0: the default). */
typedef struct {
    long value;
    aip_yaml_mark mark;
} aip_yaml_number;

/* A string setting and where it was written. */
typedef struct {
    const char *value;
    aip_yaml_mark mark;
} aip_yaml_string;

/* A true/false setting and where it was written. */
typedef struct {
    int value;
    aip_yaml_mark mark;
} aip_yaml_flag;

typedef struct {
    aip_yaml_mark mark;   /* the sequence item ("- name: ...") */
    aip_yaml_string name; /* as written; unique ignoring case */
    aip_yaml_flag enabled;
    aip_yaml_string base_url;               /* NULL for OAuth types that give none */
    apr_array_header_t *tokens;             /* aip_yaml_item */
    aip_yaml_number weight;                 /* >= 1: values <= 0 became 1, as in aiproxy */
    apr_array_header_t *model_mappings;     /* aip_yaml_pair: client model -> upstream model */
    apr_array_header_t *available_models;   /* aip_yaml_item; empty = every model */
    aip_yaml_string api_type;               /* lower case, one of the nine */
    int oauth;                              /* api type authenticates with auth_files */
    apr_array_header_t *auth_files;         /* aip_yaml_item; absolute, deduplicated */
    aip_yaml_string token_url;              /* OAuth token endpoint; NULL = the provider's */
    aip_yaml_string compression;            /* canonical: zstd, gzip, br or none */
    apr_array_header_t *http_headers;       /* aip_yaml_pair; names in canonical case */
    aip_yaml_string tls_ca_file;            /* absolute; NULL = the top level's, or the system's */
    aip_yaml_flag tls_verify;               /* mark.line 0: not written (verified) */
    aip_yaml_string prefix;                 /* models also reachable as <prefix>/<model> */
    apr_array_header_t *excluded_models;    /* aip_yaml_item; names or * globs */
    aip_yaml_string preset;                 /* provider preset (base URL, api type, endpoint) */
    aip_yaml_string endpoint;               /* exact endpoint path with {model} */
    apr_array_header_t *fallback_base_urls; /* aip_yaml_item; "off" alone: none */
} aip_yaml_upstream;

/* One api-key entry: a plain string, or {key, models, rpm, tpm}. */
typedef struct {
    aip_yaml_string key;
    apr_array_header_t *models; /* aip_yaml_item; empty = every model */
    aip_yaml_number rpm, tpm;   /* mark.line 0: not written (no limit) */
} aip_yaml_client_key;

typedef struct {
    aip_yaml_mark mark;          /* the log: key; line 0 when absent */
    aip_yaml_string file;        /* empty = stdout */
    aip_yaml_number max_size;    /* MB before rotation */
    aip_yaml_number max_backups; /* rotated files kept */
    aip_yaml_number max_age;     /* days a rotated file is kept */
    aip_yaml_flag compress;      /* gzip rotated files */
} aip_yaml_log;

typedef struct {
    const char *path; /* as given to the loader, used in messages */
    aip_yaml_string bind;
    aip_yaml_string listen;
    aip_yaml_number default_max_tokens;
    aip_yaml_number upstream_request_timeout; /* seconds */
    apr_array_header_t *api_keys;             /* aip_yaml_client_key; empty = open gateway */
    aip_yaml_log log;
    apr_array_header_t *model_fallback; /* aip_yaml_pair: model -> next model */
    apr_array_header_t *upstreams;      /* aip_yaml_upstream */
    aip_yaml_string tls_ca_file;        /* absolute; CA file for every https upstream */
    aip_yaml_flag force_model_prefix;   /* prefixed upstreams answer only prefixed names */
    aip_yaml_string shared_state;       /* redis://host:port, memcache://host:port or none */
    apr_array_header_t *warnings;       /* aip_yaml_item: message and where */
} aip_yaml_config;

typedef struct {
    const char *path;
    aip_yaml_mark mark; /* line 0 when the error is not about one place */
    const char *message;
} aip_yaml_error;

/* Parse text (len bytes) read from path (used only in messages). Returns the configuration,
 * or NULL with *err filled. Everything lives in p. */
aip_yaml_config *aip_yaml_parse(apr_pool_t *p, const char *path, const char *text, apr_size_t len,
                                aip_yaml_error *err);

/* Read and parse the file at path (at most AIP_YAML_MAX_FILE bytes). */
aip_yaml_config *aip_yaml_load(apr_pool_t *p, const char *path, aip_yaml_error *err);

/* "path:line:column: message" (or "path: message" without a position). */
const char *aip_yaml_error_string(apr_pool_t *p, const aip_yaml_error *err);

/* The address aiproxy would listen on: listen ":PORT" uses bind, "host:port" and
 * "[v6]:port" name their own host, a bare "PORT" uses bind too. *host is "" for every
 * interface. Returns NULL or an error message. */
const char *aip_yaml_listen_address(apr_pool_t *p, const aip_yaml_config *cfg, const char **host,
                                    int *port);

/* name with every character httpd does not accept in an upstream name (letters, digits,
 * '-', '_', '.') replaced by '-': "Gemini CLI" becomes "Gemini-CLI". */
const char *aip_yaml_route_name(apr_pool_t *p, const char *name);

#endif /* AIP_YAML_H */
