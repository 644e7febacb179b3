/* aip_yaml.c: see aip_yaml.h. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "apr_file_info.h"
#include "apr_file_io.h"
#include "apr_general.h"
#include "apr_hash.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "aip_yaml.h"
#include "aip_shared.h"

/* Defaults of aiproxy at HEAD (config/config.go). */
#define DEFAULT_BIND            "127.0.0.1"
#define DEFAULT_LISTEN          ":8080"
#define DEFAULT_MAX_TOKENS      4096
#define DEFAULT_TIMEOUT         60
#define DEFAULT_LOG_MAX_SIZE    100
#define DEFAULT_LOG_MAX_BACKUPS 3
#define DEFAULT_LOG_MAX_AGE     28

typedef struct {
    apr_pool_t *p;
    yaml_document_t *doc;
    const char *path;
    const char *dir;      /* the file's directory: relative auth_files are below it */
    const char **scalars; /* copies of scalar nodes by node index: aliases share one copy */
    int node_count;
    long budget; /* values still allowed (aliases count every time they are used) */
    aip_yaml_config *cfg;
    aip_yaml_error *err;
} parse_ctx;

/* ---- errors and warnings -------------------------------------------------------------------- */

static aip_yaml_mark mark_of(const yaml_node_t *node)
{
    aip_yaml_mark m = {(int) node->start_mark.line + 1, (int) node->start_mark.column + 1};
    return m;
}

static int fail_at(parse_ctx *ctx, aip_yaml_mark mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(parse_ctx *ctx, aip_yaml_mark mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctx->err->path = ctx->path;
    ctx->err->mark = mark;
    ctx->err->message = apr_pvsprintf(ctx->p, fmt, ap);
    va_end(ap);
    return -1;
}

static void warn_at(parse_ctx *ctx, aip_yaml_mark mark, const char *message)
{
    aip_yaml_item *w = apr_array_push(ctx->cfg->warnings);
    w->value = message;
    w->mark = mark;
}

const char *aip_yaml_error_string(apr_pool_t *p, const aip_yaml_error *err)
{
    if (err->mark.line <= 0)
        return apr_psprintf(p, "%s: %s", err->path, err->message);
    return apr_psprintf(p, "%s:%d:%d: %s", err->path, err->mark.line, err->mark.column,
                        err->message);
}

/* ---- nodes ------------------------------------------------------------------------------- */

static yaml_node_t *node_at(parse_ctx *ctx, int index)
{
    return yaml_document_get_node(ctx->doc, index);
}

/* Every value read costs one unit: a mapping aliased into many places would otherwise make a
 * small file expand into an enormous configuration. */
static int spend(parse_ctx *ctx, const yaml_node_t *node)
{
    if (--ctx->budget >= 0)
        return 0;
    return fail_at(ctx, mark_of(node),
                   "more than %d values (aliases count each time they are "
                   "used)",
                   AIP_YAML_MAX_VALUES);
}

/* YAML's null: an empty plain scalar, ~ or null. "key:" with no value reads as null. */
static int is_null(const yaml_node_t *node)
{
    const char *v;
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    v = (const char *) node->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcasecmp(v, "null");
}

static const char *node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a single value";
    }
}

/* The text of a scalar node, copied into the pool once per node. */
static const char *scalar_text(parse_ctx *ctx, const yaml_node_t *node, const char *what)
{
    int index = (int) (node - ctx->doc->nodes.start) + 1;
    const char *v = (const char *) node->data.scalar.value;
    apr_size_t len = node->data.scalar.length;

    if (node->type != YAML_SCALAR_NODE) {
        fail_at(ctx, mark_of(node), "%s: expected a single value, found %s", what, node_kind(node));
        return NULL;
    }
    if (index >= 1 && index <= ctx->node_count && ctx->scalars[index])
        return ctx->scalars[index];
    /* A "\0" escape would silently cut the value short in every C string it becomes. */
    if (memchr(v, '\0', len)) {
        fail_at(ctx, mark_of(node), "%s: the value contains a NUL character", what);
        return NULL;
    }
    v = apr_pstrmemdup(ctx->p, v, len);
    if (index >= 1 && index <= ctx->node_count)
        ctx->scalars[index] = v;
    return v;
}

/* ---- readers of one value, by kind ---------------------------------------------------------- */

/* Each reader takes the value node of "key: value" and the field to fill; what names the key
 * in messages. A null value leaves the field at its default. */
typedef int (*field_reader)(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what);

static int read_string(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    aip_yaml_string *out = field;
    const char *v;
    if (is_null(node))
        return 0;
    if ((v = scalar_text(ctx, node, what)) == NULL)
        return -1;
    out->value = v;
    out->mark = mark_of(node);
    return 0;
}

static int parse_long(const char *text, long *out)
{
    char *end;
    long n;
    if (!*text || apr_isspace(*text))
        return -1;
    errno = 0;
    n = strtol(text, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *out = n;
    return 0;
}

static int read_number(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    aip_yaml_number *out = field;
    const char *v;
    if (is_null(node))
        return 0;
    if ((v = scalar_text(ctx, node, what)) == NULL)
        return -1;
    if (parse_long(v, &out->value) != 0)
        return fail_at(ctx, mark_of(node), "%s: '%s' is not a whole number", what, v);
    out->mark = mark_of(node);
    return 0;
}

/* YAML 1.1 spellings, as yaml.v3 accepts them for a bool field. */
static const struct {
    const char *text;
    int value;
} flag_words[] = {
    {"true", 1}, {"yes", 1}, {"on", 1}, {"false", 0}, {"no", 0}, {"off", 0},
};

static int read_flag(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    aip_yaml_flag *out = field;
    const char *v;
    if (is_null(node))
        return 0;
    if ((v = scalar_text(ctx, node, what)) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++) {
        if (!strcasecmp(v, flag_words[i].text)) {
            out->value = flag_words[i].value;
            out->mark = mark_of(node);
            return 0;
        }
    }
    return fail_at(ctx, mark_of(node), "%s: '%s' is not true or false", what, v);
}

static int push_item(parse_ctx *ctx, apr_array_header_t *list, yaml_node_t *node, const char *what)
{
    aip_yaml_item *item;
    const char *v;
    if (spend(ctx, node) != 0)
        return -1;
    if (is_null(node))
        return 0;
    if ((v = scalar_text(ctx, node, what)) == NULL)
        return -1;
    if (!*v) /* an empty entry names nothing: the checks below see the list as if absent */
        return 0;
    item = apr_array_push(list);
    item->value = v;
    item->mark = mark_of(node);
    return 0;
}

/* "string or list": one value is a list of one. */
static int read_list(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    apr_array_header_t *list = *(apr_array_header_t **) field;
    if (node->type != YAML_SEQUENCE_NODE)
        return push_item(ctx, list, node, what);
    for (yaml_node_item_t *i = node->data.sequence.items.start; i < node->data.sequence.items.top;
         i++) {
        yaml_node_t *item = node_at(ctx, *i);
        if (!item || push_item(ctx, list, item, what) != 0)
            return item ? -1 : fail_at(ctx, mark_of(node), "%s: broken list", what);
    }
    return 0;
}

/* Walks the pairs of a mapping, rejecting non-scalar and repeated keys (yaml.v3 refuses a
 * key defined twice, and silently keeping either value would hide a mistake). */
typedef int (*pair_visitor)(parse_ctx *ctx, const char *key, yaml_node_t *key_node,
                            yaml_node_t *value, void *data);

static int walk_mapping(parse_ctx *ctx, yaml_node_t *node, const char *what, pair_visitor visit,
                        void *data)
{
    apr_hash_t *seen;
    if (node->type != YAML_MAPPING_NODE)
        return fail_at(ctx, mark_of(node), "%s: expected a mapping (key: value lines), found %s",
                       what, node_kind(node));
    seen = apr_hash_make(ctx->p);
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = node_at(ctx, pair->key), *value = node_at(ctx, pair->value);
        const char *k;
        aip_yaml_mark *first;
        if (!key || !value)
            return fail_at(ctx, mark_of(node), "%s: broken mapping", what);
        if (spend(ctx, key) != 0 || (k = scalar_text(ctx, key, what)) == NULL)
            return -1;
        if ((first = apr_hash_get(seen, k, APR_HASH_KEY_STRING)) != NULL)
            return fail_at(ctx, mark_of(key), "%s: key '%s' is already defined at line %d", what, k,
                           first->line);
        first = apr_palloc(ctx->p, sizeof(*first));
        *first = mark_of(key);
        apr_hash_set(seen, k, APR_HASH_KEY_STRING, first);
        if (visit(ctx, k, key, value, data) != 0)
            return -1;
    }
    return 0;
}

static int visit_map_pair(parse_ctx *ctx, const char *key, yaml_node_t *key_node,
                          yaml_node_t *value, void *data)
{
    apr_array_header_t *map = data;
    aip_yaml_pair *pair;
    const char *v = is_null(value) ? "" : scalar_text(ctx, value, key);
    if (!v)
        return -1;
    pair = apr_array_push(map);
    pair->key = key;
    pair->value = v;
    pair->mark = mark_of(key_node);
    return 0;
}

/* A string-to-string mapping, kept in file order. */
static int read_map(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    if (is_null(node))
        return 0;
    return walk_mapping(ctx, node, what, visit_map_pair, *(apr_array_header_t **) field);
}

/* ---- sections: tables of keys ------------------------------------------------------------ */

typedef struct {
    const char *key;
    field_reader read;
    size_t offset; /* of the field in the section's struct */
} field_spec;

typedef struct {
    const char *what; /* "upstreams[2]" or "log" (NULL: the top level) */
    const field_spec *fields;
    size_t count;
    void *base; /* the struct the fields live in */
} section;

/* Keys people write by mistake or from the README, and what they probably meant. */
static const struct {
    const char *key;
    const char *hint;
} key_hints[] = {
    {"must_stream", "must_stream was removed from aiproxy: streaming upstreams are handled "
                    "without it"},
    {"api_key", "did you mean api-key?"},
    {"apikey", "did you mean api-key?"},
    {"api_keys", "did you mean api-key?"},
    {"tokens", "did you mean token?"},
    {"url", "did you mean base_url?"},
    {"baseurl", "did you mean base_url?"},
    {"type", "did you mean api_type?"},
    {"models", "did you mean available_models?"},
    {"model_mapping", "did you mean model_mappings?"},
    {"headers", "did you mean http_headers?"},
    {"compression", "did you mean request_compression?"},
    {"timeout", "did you mean upstream_request_timeout (top level)?"},
    {"fallback", "did you mean model_fallback?"},
};

static void warn_unknown_key(parse_ctx *ctx, const section *sec, const char *key,
                             yaml_node_t *key_node)
{
    const char *hint = "";
    for (size_t i = 0; i < sizeof(key_hints) / sizeof(key_hints[0]); i++) {
        if (!strcasecmp(key, key_hints[i].key))
            hint = apr_pstrcat(ctx->p, ": ", key_hints[i].hint, NULL);
    }
    warn_at(ctx, mark_of(key_node),
            apr_psprintf(ctx->p, "%s: unknown key '%s' ignored%s",
                         sec->what ? sec->what : "top level", key, hint));
}

static int visit_section_pair(parse_ctx *ctx, const char *key, yaml_node_t *key_node,
                              yaml_node_t *value, void *data)
{
    const section *sec = data;
    for (size_t i = 0; i < sec->count; i++) {
        if (!strcmp(key, sec->fields[i].key)) {
            const char *what = sec->what ? apr_pstrcat(ctx->p, sec->what, ".", key, NULL) : key;
            return sec->fields[i].read(ctx, value, (char *) sec->base + sec->fields[i].offset,
                                       what);
        }
    }
    warn_unknown_key(ctx, sec, key, key_node);
    return 0;
}

static int read_section(parse_ctx *ctx, yaml_node_t *node, const section *sec)
{
    return walk_mapping(ctx, node, sec->what ? sec->what : "the top level", visit_section_pair,
                        (void *) sec);
}

static const field_spec log_fields[] = {
    {"file", read_string, offsetof(aip_yaml_log, file)},
    {"max_size", read_number, offsetof(aip_yaml_log, max_size)},
    {"max_backups", read_number, offsetof(aip_yaml_log, max_backups)},
    {"max_age", read_number, offsetof(aip_yaml_log, max_age)},
    {"compress", read_flag, offsetof(aip_yaml_log, compress)},
};

static int read_log(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    aip_yaml_log *log = field;
    section sec = {"log", log_fields, sizeof(log_fields) / sizeof(log_fields[0]), log};
    if (is_null(node))
        return 0;
    log->mark = mark_of(node);
    return read_section(ctx, node, &sec);
}

static const field_spec upstream_fields[] = {
    {"name", read_string, offsetof(aip_yaml_upstream, name)},
    {"enabled", read_flag, offsetof(aip_yaml_upstream, enabled)},
    {"base_url", read_string, offsetof(aip_yaml_upstream, base_url)},
    {"token", read_list, offsetof(aip_yaml_upstream, tokens)},
    {"weight", read_number, offsetof(aip_yaml_upstream, weight)},
    {"model_mappings", read_map, offsetof(aip_yaml_upstream, model_mappings)},
    {"available_models", read_list, offsetof(aip_yaml_upstream, available_models)},
    {"api_type", read_string, offsetof(aip_yaml_upstream, api_type)},
    {"auth_files", read_list, offsetof(aip_yaml_upstream, auth_files)},
    {"token_url", read_string, offsetof(aip_yaml_upstream, token_url)},
    {"request_compression", read_string, offsetof(aip_yaml_upstream, compression)},
    {"http_headers", read_map, offsetof(aip_yaml_upstream, http_headers)},
    {"tls_ca_file", read_string, offsetof(aip_yaml_upstream, tls_ca_file)},
    {"tls_verify", read_flag, offsetof(aip_yaml_upstream, tls_verify)},
    {"prefix", read_string, offsetof(aip_yaml_upstream, prefix)},
    /* cliproxyapi++ spells it with a hyphen; both are read */
    {"excluded_models", read_list, offsetof(aip_yaml_upstream, excluded_models)},
    {"excluded-models", read_list, offsetof(aip_yaml_upstream, excluded_models)},
    {"preset", read_string, offsetof(aip_yaml_upstream, preset)},
    {"endpoint", read_string, offsetof(aip_yaml_upstream, endpoint)},
    {"fallback_base_urls", read_list, offsetof(aip_yaml_upstream, fallback_base_urls)},
};

static void upstream_defaults(apr_pool_t *p, aip_yaml_upstream *up, yaml_node_t *node)
{
    memset(up, 0, sizeof(*up));
    up->mark = mark_of(node);
    up->enabled.value = 1;
    up->tokens = apr_array_make(p, 1, sizeof(aip_yaml_item));
    up->weight.value = 1;
    up->model_mappings = apr_array_make(p, 2, sizeof(aip_yaml_pair));
    up->available_models = apr_array_make(p, 2, sizeof(aip_yaml_item));
    up->api_type.value = "anthropic";
    up->auth_files = apr_array_make(p, 1, sizeof(aip_yaml_item));
    up->compression.value = "none";
    up->http_headers = apr_array_make(p, 1, sizeof(aip_yaml_pair));
    up->tls_verify.value = 1;
    up->excluded_models = apr_array_make(p, 1, sizeof(aip_yaml_item));
    up->fallback_base_urls = apr_array_make(p, 1, sizeof(aip_yaml_item));
}

static int read_upstreams(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    apr_array_header_t *ups = *(apr_array_header_t **) field;
    int n = 0;
    if (is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return fail_at(ctx, mark_of(node),
                       "upstreams: expected a list of upstreams "
                       "(- name: ...), found %s",
                       node_kind(node));
    for (yaml_node_item_t *i = node->data.sequence.items.start; i < node->data.sequence.items.top;
         i++, n++) {
        yaml_node_t *item = node_at(ctx, *i);
        aip_yaml_upstream *up;
        section sec = {NULL, upstream_fields, sizeof(upstream_fields) / sizeof(upstream_fields[0]),
                       NULL};
        if (!item)
            return fail_at(ctx, mark_of(node), "upstreams: broken list");
        if (spend(ctx, item) != 0)
            return -1;
        up = apr_array_push(ups);
        upstream_defaults(ctx->p, up, item);
        sec.what = apr_psprintf(ctx->p, "upstreams[%d]", n);
        sec.base = up;
        if (read_section(ctx, item, &sec) != 0)
            return -1;
    }
    return 0;
}

static const field_spec client_key_fields[] = {
    {"key", read_string, offsetof(aip_yaml_client_key, key)},
    {"models", read_list, offsetof(aip_yaml_client_key, models)},
    {"rpm", read_number, offsetof(aip_yaml_client_key, rpm)},
    {"tpm", read_number, offsetof(aip_yaml_client_key, tpm)},
};

/* One api-key entry: a plain key (string), or a mapping with its scope and limits. */
static int read_client_key(parse_ctx *ctx, yaml_node_t *node, apr_array_header_t *keys, int n)
{
    aip_yaml_client_key *k;
    section sec = {NULL, client_key_fields,
                   sizeof(client_key_fields) / sizeof(client_key_fields[0]), NULL};

    if (spend(ctx, node) != 0)
        return -1;
    if (is_null(node))
        return 0;
    k = apr_array_push(keys);
    memset(k, 0, sizeof(*k));
    k->models = apr_array_make(ctx->p, 1, sizeof(aip_yaml_item));
    if (node->type != YAML_MAPPING_NODE) {
        if (read_string(ctx, node, &k->key, "api-key") != 0)
            return -1;
    } else {
        sec.what = apr_psprintf(ctx->p, "api-key[%d]", n);
        sec.base = k;
        if (read_section(ctx, node, &sec) != 0)
            return -1;
        if (!k->key.value)
            return fail_at(ctx, mark_of(node), "%s: key: is missing", sec.what);
        if ((k->rpm.mark.line && (k->rpm.value < 1 || k->rpm.value > 1000000000L)) ||
            (k->tpm.mark.line && (k->tpm.value < 1 || k->tpm.value > 1000000000L)))
            return fail_at(ctx, mark_of(node), "%s: rpm and tpm must be from 1 to 1000000000",
                           sec.what);
    }
    if (!*k->key.value) /* an empty entry names nothing, as in the other lists */
        keys->nelts--;
    return 0;
}

/* "string or list" of keys, each a string or a mapping. */
static int read_client_keys(parse_ctx *ctx, yaml_node_t *node, void *field, const char *what)
{
    apr_array_header_t *keys = *(apr_array_header_t **) field;
    int n = 0;

    if (node->type != YAML_SEQUENCE_NODE)
        return read_client_key(ctx, node, keys, 0);
    for (yaml_node_item_t *i = node->data.sequence.items.start; i < node->data.sequence.items.top;
         i++, n++) {
        yaml_node_t *item = node_at(ctx, *i);
        if (!item || read_client_key(ctx, item, keys, n) != 0)
            return item ? -1 : fail_at(ctx, mark_of(node), "%s: broken list", what);
    }
    return 0;
}

static const field_spec top_fields[] = {
    {"bind", read_string, offsetof(aip_yaml_config, bind)},
    {"listen", read_string, offsetof(aip_yaml_config, listen)},
    {"default_max_tokens", read_number, offsetof(aip_yaml_config, default_max_tokens)},
    {"upstream_request_timeout", read_number, offsetof(aip_yaml_config, upstream_request_timeout)},
    {"api-key", read_client_keys, offsetof(aip_yaml_config, api_keys)},
    {"log", read_log, offsetof(aip_yaml_config, log)},
    {"model_fallback", read_map, offsetof(aip_yaml_config, model_fallback)},
    {"upstreams", read_upstreams, offsetof(aip_yaml_config, upstreams)},
    {"tls_ca_file", read_string, offsetof(aip_yaml_config, tls_ca_file)},
    {"force_model_prefix", read_flag, offsetof(aip_yaml_config, force_model_prefix)},
    {"force-model-prefix", read_flag, offsetof(aip_yaml_config, force_model_prefix)},
    {"shared_state", read_string, offsetof(aip_yaml_config, shared_state)},
};

static aip_yaml_config *config_defaults(apr_pool_t *p, const char *path)
{
    aip_yaml_config *cfg = apr_pcalloc(p, sizeof(*cfg));
    cfg->path = path;
    cfg->bind.value = DEFAULT_BIND;
    cfg->listen.value = DEFAULT_LISTEN;
    cfg->default_max_tokens.value = DEFAULT_MAX_TOKENS;
    cfg->upstream_request_timeout.value = DEFAULT_TIMEOUT;
    cfg->api_keys = apr_array_make(p, 1, sizeof(aip_yaml_client_key));
    cfg->log.file.value = "";
    cfg->log.max_size.value = DEFAULT_LOG_MAX_SIZE;
    cfg->log.max_backups.value = DEFAULT_LOG_MAX_BACKUPS;
    cfg->log.max_age.value = DEFAULT_LOG_MAX_AGE;
    cfg->model_fallback = apr_array_make(p, 2, sizeof(aip_yaml_pair));
    cfg->upstreams = apr_array_make(p, 4, sizeof(aip_yaml_upstream));
    cfg->warnings = apr_array_make(p, 1, sizeof(aip_yaml_item));
    return cfg;
}

/* ---- checks after reading -------------------------------------------------------------- */

/* api types; OAuth ones authenticate with auth_files instead of base_url and token. */
static const struct {
    const char *name;
    int oauth;
} api_types[] = {
    {"anthropic", 0}, {"openai", 0},    {"gemini", 0},      {"responses", 0},
    {"codex", 1},     {"geminicli", 1}, {"antigravity", 1}, {"claudecode", 1},
    {"kiro", 1},      {"cohere", 0},    {"jina", 0},
};

static int check_api_type(parse_ctx *ctx, aip_yaml_upstream *up, const char *what)
{
    for (size_t i = 0; i < sizeof(api_types) / sizeof(api_types[0]); i++) {
        if (!strcasecmp(up->api_type.value, api_types[i].name)) {
            up->api_type.value = api_types[i].name;
            up->oauth = api_types[i].oauth;
            return 0;
        }
    }
    return fail_at(ctx, up->api_type.mark,
                   "%s: unknown api_type '%s' (anthropic, openai, gemini, responses, cohere, "
                   "jina, codex, geminicli, antigravity, claudecode, kiro)",
                   what, up->api_type.value);
}

/* request_compression values aiproxy accepts, and the coding each one means. */
static const struct {
    const char *name;
    const char *coding;
} compressions[] = {
    {"zstd", "zstd"}, {"x-zstd", "zstd"}, {"gzip", "gzip"},     {"x-gzip", "gzip"},
    {"br", "br"},     {"none", "none"},   {"identity", "none"}, {"", "none"},
};

/* aiproxy treats an unknown value as none; a typo silently turning compression off is worse
 * than a refusal to start, so an unknown value is an error here. */
static int check_compression(parse_ctx *ctx, aip_yaml_upstream *up, const char *what)
{
    for (size_t i = 0; i < sizeof(compressions) / sizeof(compressions[0]); i++) {
        if (!strcasecmp(up->compression.value, compressions[i].name)) {
            up->compression.value = compressions[i].coding;
            return 0;
        }
    }
    return fail_at(ctx, up->compression.mark,
                   "%s: unknown request_compression '%s' (zstd, x-zstd, gzip, x-gzip, br, "
                   "none, identity)",
                   what, up->compression.value);
}

static int check_credentials(parse_ctx *ctx, aip_yaml_upstream *up, const char *what)
{
    if (up->oauth) {
        if (up->auth_files->nelts == 0)
            return fail_at(ctx, up->mark,
                           "%s: api_type %s needs auth_files (OAuth credential "
                           "files)",
                           what, up->api_type.value);
        return 0;
    }
    if ((!up->base_url.value || !*up->base_url.value) && !up->preset.value)
        return fail_at(ctx, up->mark, "%s: base_url is required for api_type %s (or a preset)",
                       what, up->api_type.value);
    if (up->base_url.value && *up->base_url.value &&
        strncasecmp(up->base_url.value, "http://", 7) != 0 &&
        strncasecmp(up->base_url.value, "https://", 8) != 0)
        return fail_at(ctx, up->base_url.mark,
                       "%s: base_url '%s' must start with http:// or "
                       "https://",
                       what, up->base_url.value);
    if (up->tokens->nelts == 0)
        return fail_at(ctx, up->mark,
                       "%s: token is required for api_type %s (one string or a "
                       "list)",
                       what, up->api_type.value);
    return 0;
}

/* auth_files are deduplicated by absolute path, as aiproxy does; relative paths are taken
 * from the config file's directory (a server has no meaningful working directory). */
static int check_auth_files(parse_ctx *ctx, aip_yaml_upstream *up, const char *what)
{
    apr_array_header_t *unique =
        apr_array_make(ctx->p, up->auth_files->nelts, sizeof(aip_yaml_item));
    apr_hash_t *seen = apr_hash_make(ctx->p);
    for (int i = 0; i < up->auth_files->nelts; i++) {
        aip_yaml_item item = APR_ARRAY_IDX(up->auth_files, i, aip_yaml_item);
        char *abs;
        if (apr_filepath_merge(&abs, ctx->dir, item.value, 0, ctx->p) != APR_SUCCESS)
            return fail_at(ctx, item.mark, "%s: auth_files entry '%s' is not a valid path", what,
                           item.value);
        if (apr_hash_get(seen, abs, APR_HASH_KEY_STRING)) {
            warn_at(ctx, item.mark,
                    apr_psprintf(ctx->p,
                                 "%s: auth_files entry '%s' is listed "
                                 "twice; used once",
                                 what, abs));
            continue;
        }
        apr_hash_set(seen, abs, APR_HASH_KEY_STRING, abs);
        item.value = abs;
        APR_ARRAY_PUSH(unique, aip_yaml_item) = item;
    }
    up->auth_files = unique;
    return 0;
}

/* A CA file named in the config: relative paths are below the config file's directory, as
 * auth_files are. */
static int resolve_ca_file(parse_ctx *ctx, aip_yaml_string *file, const char *what)
{
    char *abs;
    if (!file->value)
        return 0;
    if (!*file->value || apr_filepath_merge(&abs, ctx->dir, file->value, 0, ctx->p) != APR_SUCCESS)
        return fail_at(ctx, file->mark, "%s: tls_ca_file '%s' is not a valid path", what,
                       file->value);
    file->value = abs;
    return 0;
}

/* RFC 9110 token characters: what a header name may be made of. */
static int is_token_char(char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Go's CanonicalMIMEHeaderKey: "x-api-key" becomes "X-Api-Key". */
static char *canonical_header(apr_pool_t *p, const char *name)
{
    char *out = apr_pstrdup(p, name);
    int upper = 1;
    for (char *c = out; *c; c++) {
        *c = (char) (upper ? apr_toupper(*c) : apr_tolower(*c));
        upper = *c == '-';
    }
    return out;
}

static int check_headers(parse_ctx *ctx, aip_yaml_upstream *up, const char *what)
{
    apr_hash_t *seen = apr_hash_make(ctx->p);
    for (int i = 0; i < up->http_headers->nelts; i++) {
        aip_yaml_pair *h = &APR_ARRAY_IDX(up->http_headers, i, aip_yaml_pair);
        const aip_yaml_mark *first;
        if (!*h->key)
            return fail_at(ctx, h->mark, "%s: http_headers: empty header name", what);
        for (const char *c = h->key; *c; c++) {
            if (!is_token_char(*c))
                return fail_at(ctx, h->mark,
                               "%s: http_headers: '%s' is not a valid header "
                               "name",
                               what, h->key);
        }
        if (strpbrk(h->value, "\r\n"))
            return fail_at(ctx, h->mark,
                           "%s: http_headers: the value of %s must not contain "
                           "line breaks",
                           what, h->key);
        h->key = canonical_header(ctx->p, h->key);
        if ((first = apr_hash_get(seen, h->key, APR_HASH_KEY_STRING)) != NULL)
            return fail_at(ctx, h->mark,
                           "%s: http_headers: %s is already set at line %d "
                           "(header names ignore case)",
                           what, h->key, first->line);
        apr_hash_set(seen, h->key, APR_HASH_KEY_STRING, &h->mark);
    }
    return 0;
}

static int check_upstream(parse_ctx *ctx, aip_yaml_upstream *up, int n)
{
    const char *what;
    if (!up->name.value || !*up->name.value)
        return fail_at(ctx, up->mark, "upstreams[%d]: name is required", n);
    what = apr_psprintf(ctx->p, "upstream '%s'", up->name.value);
    if (up->weight.value <= 0) /* as aiproxy: a missing or non-positive weight is 1 */
        up->weight.value = 1;
    if (check_api_type(ctx, up, what) != 0 || check_compression(ctx, up, what) != 0 ||
        check_credentials(ctx, up, what) != 0 || check_auth_files(ctx, up, what) != 0 ||
        check_headers(ctx, up, what) != 0 || resolve_ca_file(ctx, &up->tls_ca_file, what) != 0)
        return -1;
    for (int i = 0; i < up->model_mappings->nelts; i++) {
        const aip_yaml_pair *m = &APR_ARRAY_IDX(up->model_mappings, i, aip_yaml_pair);
        if (!*m->value)
            return fail_at(ctx, m->mark, "%s: model_mappings: '%s' maps to an empty name", what,
                           m->key);
    }
    return 0;
}

/* Names are unique ignoring case (aiproxy), and also once made into httpd route names:
 * "a b" and "a-b" would become the same balancer member. */
static int check_unique_names(parse_ctx *ctx)
{
    apr_hash_t *seen = apr_hash_make(ctx->p);
    for (int i = 0; i < ctx->cfg->upstreams->nelts; i++) {
        const aip_yaml_upstream *up = &APR_ARRAY_IDX(ctx->cfg->upstreams, i, aip_yaml_upstream);
        char *key = apr_pstrdup(ctx->p, aip_yaml_route_name(ctx->p, up->name.value));
        const aip_yaml_upstream *first;
        for (char *c = key; *c; c++)
            *c = (char) apr_tolower(*c);
        if ((first = apr_hash_get(seen, key, APR_HASH_KEY_STRING)) == NULL) {
            apr_hash_set(seen, key, APR_HASH_KEY_STRING, up);
            continue;
        }
        if (!strcasecmp(first->name.value, up->name.value))
            return fail_at(ctx, up->name.mark,
                           "duplicate upstream name '%s' (first defined at "
                           "line %d; names ignore case)",
                           up->name.value, first->name.mark.line);
        return fail_at(ctx, up->name.mark,
                       "upstream names '%s' (line %d) and '%s' both become "
                       "'%s' in httpd (letters, digits, '-', '_', '.')",
                       first->name.value, first->name.mark.line, up->name.value,
                       aip_yaml_route_name(ctx->p, up->name.value));
    }
    return 0;
}

/* Where f sits in the model_fallback array. */
static char *fallback_state(char *state, const apr_array_header_t *fb, const aip_yaml_pair *f)
{
    return &state[f - (const aip_yaml_pair *) fb->elts];
}

/* The fallback map is a function model -> model; following it must end. Each model is
 * visited once: 1 while on the current path, 2 once known to end. */
static int check_fallback(parse_ctx *ctx)
{
    apr_array_header_t *fb = ctx->cfg->model_fallback;
    apr_hash_t *index = apr_hash_make(ctx->p);
    char *state = apr_pcalloc(ctx->p, (apr_size_t) fb->nelts + 1);

    for (int i = 0; i < fb->nelts; i++) {
        aip_yaml_pair *f = &APR_ARRAY_IDX(fb, i, aip_yaml_pair);
        if (!*f->key || !*f->value)
            return fail_at(ctx, f->mark, "model_fallback: '%s' needs a model to fall back to",
                           f->key);
        apr_hash_set(index, f->key, APR_HASH_KEY_STRING, f);
    }
    for (int i = 0; i < fb->nelts; i++) {
        aip_yaml_pair *f = &APR_ARRAY_IDX(fb, i, aip_yaml_pair);
        while (f && *fallback_state(state, fb, f) == 0) {
            aip_yaml_pair *next = apr_hash_get(index, f->value, APR_HASH_KEY_STRING);
            *fallback_state(state, fb, f) = 1;
            if (next && *fallback_state(state, fb, next) == 1)
                return fail_at(ctx, f->mark, "model_fallback: %s -> %s closes a cycle", f->key,
                               f->value);
            f = next;
        }
        /* everything on this path ends (or joined a path known to end) */
        for (f = &APR_ARRAY_IDX(fb, i, aip_yaml_pair); f && *fallback_state(state, fb, f) == 1;
             f = apr_hash_get(index, f->value, APR_HASH_KEY_STRING))
            *fallback_state(state, fb, f) = 2;
    }
    return 0;
}

static int check_positive(parse_ctx *ctx, aip_yaml_number *n, long dflt, const char *what)
{
    /* 0 is Go's "not set": the default applies, as in aiproxy */
    if (n->value == 0)
        n->value = dflt;
    if (n->value < 0)
        return fail_at(ctx, n->mark, "%s: expected a positive whole number, not %ld", what,
                       n->value);
    return 0;
}

static int check_config(parse_ctx *ctx)
{
    aip_yaml_config *cfg = ctx->cfg;
    const char *host, *msg;
    int port;

    if (check_positive(ctx, &cfg->default_max_tokens, DEFAULT_MAX_TOKENS, "default_max_tokens") !=
            0 ||
        check_positive(ctx, &cfg->upstream_request_timeout, DEFAULT_TIMEOUT,
                       "upstream_request_timeout") != 0 ||
        check_positive(ctx, &cfg->log.max_size, DEFAULT_LOG_MAX_SIZE, "log.max_size") != 0 ||
        check_positive(ctx, &cfg->log.max_backups, 0, "log.max_backups") != 0 ||
        check_positive(ctx, &cfg->log.max_age, 0, "log.max_age") != 0)
        return -1;
    if (!*cfg->bind.value)
        cfg->bind.value = DEFAULT_BIND;
    if (!*cfg->listen.value)
        cfg->listen.value = DEFAULT_LISTEN;
    if ((msg = aip_yaml_listen_address(ctx->p, cfg, &host, &port)) != NULL)
        return fail_at(ctx, cfg->listen.mark, "%s", msg);
    if (resolve_ca_file(ctx, &cfg->tls_ca_file, "top level") != 0)
        return -1;
    if (cfg->shared_state.value) {
        aip_shared_spec spec;
        if ((msg = aip_shared_parse_url(ctx->p, cfg->shared_state.value, &spec)) != NULL)
            return fail_at(ctx, cfg->shared_state.mark, "shared_state: %s", msg);
    }
    for (int i = 0; i < cfg->upstreams->nelts; i++) {
        if (check_upstream(ctx, &APR_ARRAY_IDX(cfg->upstreams, i, aip_yaml_upstream), i) != 0)
            return -1;
    }
    if (check_unique_names(ctx) != 0 || check_fallback(ctx) != 0)
        return -1;
    if (cfg->upstreams->nelts == 0)
        warn_at(ctx, (aip_yaml_mark){0, 0}, "no upstreams are defined: every request will fail");
    return 0;
}

/* ---- the document ------------------------------------------------------------------------ */

static int line_of_offset(const char *text, apr_size_t len, apr_size_t offset)
{
    int line = 1;
    for (apr_size_t i = 0; i < offset && i < len; i++)
        line += text[i] == '\n';
    return line;
}

/* libyaml's own message: what is wrong, and in which construct. */
static void fail_syntax(parse_ctx *ctx, const yaml_parser_t *parser, const char *text,
                        apr_size_t len)
{
    const char *problem = parser->problem ? parser->problem : "malformed YAML";
    aip_yaml_mark mark = {(int) parser->problem_mark.line + 1,
                          (int) parser->problem_mark.column + 1};
    if (parser->error == YAML_READER_ERROR) {
        /* reader errors (bad UTF-8, control characters) carry a byte offset, no mark */
        mark.line = line_of_offset(text, len, parser->problem_offset);
        mark.column = 1;
        fail_at(ctx, mark, "%s (byte %" APR_SIZE_T_FMT ")", problem,
                (apr_size_t) parser->problem_offset);
        return;
    }
    if (parser->error == YAML_MEMORY_ERROR)
        mark.line = 0;
    if (parser->context)
        fail_at(ctx, mark, "%s %s (line %d)", problem, parser->context,
                (int) parser->context_mark.line + 1);
    else
        fail_at(ctx, mark, "%s", problem);
}

/* Nesting is limited before libyaml builds the document: its scanner spends time
 * proportional to the depth on every token, so 100k nested '[' would take minutes. The
 * seed format nests four levels; anything deeper is a mistake. Syntax errors surface here. */
static int check_nesting(parse_ctx *ctx, const char *text, apr_size_t len)
{
    yaml_parser_t parser;
    yaml_event_t event;
    int depth = 0, rc = 0, done = 0;

    if (!yaml_parser_initialize(&parser))
        return fail_at(ctx, (aip_yaml_mark){0, 0}, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &event)) {
            fail_syntax(ctx, &parser, text, len);
            rc = -1;
            break;
        }
        if (event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (event.type == YAML_SEQUENCE_END_EVENT || event.type == YAML_MAPPING_END_EVENT)
            depth--;
        done = event.type == YAML_STREAM_END_EVENT;
        if (depth > AIP_YAML_MAX_DEPTH)
            rc = fail_at(
                ctx,
                (aip_yaml_mark){(int) event.start_mark.line + 1, (int) event.start_mark.column + 1},
                "nested deeper than %d levels", AIP_YAML_MAX_DEPTH);
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Read the one document of the stream; a second one is an error, since aiproxy would read
 * only the first and silently ignore the rest. */
static int load_document(parse_ctx *ctx, yaml_parser_t *parser, const char *text, apr_size_t len)
{
    yaml_document_t extra;
    yaml_node_t *extra_root;
    /* a failed yaml_parser_load has already deleted the document it was building */
    if (!yaml_parser_load(parser, ctx->doc)) {
        fail_syntax(ctx, parser, text, len);
        return -1;
    }
    if (!yaml_parser_load(parser, &extra)) {
        yaml_document_delete(ctx->doc);
        fail_syntax(ctx, parser, text, len);
        return -1;
    }
    extra_root = yaml_document_get_root_node(&extra);
    if (extra_root) {
        fail_at(ctx, mark_of(extra_root), "only one YAML document is allowed (found a second)");
        yaml_document_delete(&extra);
        yaml_document_delete(ctx->doc);
        return -1;
    }
    yaml_document_delete(&extra);
    return 0;
}

static const char *dir_of(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ".";
    return slash == path ? "/" : apr_pstrmemdup(p, path, (apr_size_t) (slash - path));
}

static int read_root(parse_ctx *ctx)
{
    yaml_node_t *root = yaml_document_get_root_node(ctx->doc);
    section top = {NULL, top_fields, sizeof(top_fields) / sizeof(top_fields[0]), ctx->cfg};
    ctx->node_count = (int) (ctx->doc->nodes.top - ctx->doc->nodes.start);
    ctx->scalars = apr_pcalloc(ctx->p, sizeof(const char *) * ((apr_size_t) ctx->node_count + 1));
    if (!root || is_null(root)) /* an empty file: every default */
        return check_config(ctx);
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(ctx, mark_of(root),
                       "the file must be a mapping (bind:, upstreams:, ...), "
                       "found %s",
                       node_kind(root));
    if (read_section(ctx, root, &top) != 0)
        return -1;
    return check_config(ctx);
}

aip_yaml_config *aip_yaml_parse(apr_pool_t *p, const char *path, const char *text, apr_size_t len,
                                aip_yaml_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    parse_ctx ctx = {
        p,  &doc, path, dir_of(p, path), NULL, 0, AIP_YAML_MAX_VALUES, config_defaults(p, path),
        err};
    int rc;

    memset(err, 0, sizeof(*err));
    memset(&doc, 0, sizeof(doc));
    if (!yaml_parser_initialize(&parser)) {
        fail_at(&ctx, (aip_yaml_mark){0, 0}, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    rc = check_nesting(&ctx, text, len);
    if (rc == 0)
        rc = load_document(&ctx, &parser, text, len);
    if (rc == 0) {
        rc = read_root(&ctx);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    return rc == 0 ? ctx.cfg : NULL;
}

aip_yaml_config *aip_yaml_load(apr_pool_t *p, const char *path, aip_yaml_error *err)
{
    apr_file_t *f;
    apr_finfo_t info;
    apr_status_t rv;
    char *text, buf[120];
    apr_size_t got = 0;

    memset(err, 0, sizeof(*err));
    err->path = path;
    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p)) != APR_SUCCESS) {
        err->message = apr_psprintf(p, "cannot open: %s", apr_strerror(rv, buf, sizeof(buf)));
        return NULL;
    }
    rv = apr_file_info_get(&info, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && info.filetype != APR_REG)
        err->message = "not a regular file";
    else if (rv == APR_SUCCESS && info.size > AIP_YAML_MAX_FILE)
        err->message = apr_psprintf(p, "larger than %d bytes", AIP_YAML_MAX_FILE);
    else if (rv != APR_SUCCESS)
        err->message = apr_psprintf(p, "cannot stat: %s", apr_strerror(rv, buf, sizeof(buf)));
    if (err->message) {
        apr_file_close(f);
        return NULL;
    }
    text = apr_palloc(p, (apr_size_t) info.size + 1);
    rv = apr_file_read_full(f, text, (apr_size_t) info.size, &got);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        err->message = apr_psprintf(p, "cannot read: %s", apr_strerror(rv, buf, sizeof(buf)));
        return NULL;
    }
    text[got] = '\0';
    return aip_yaml_parse(p, path, text, got, err);
}

/* ---- derived values ---------------------------------------------------------------------- */

static int parse_port(const char *text, int *port)
{
    long n;
    for (const char *c = text; *c; c++) {
        if (!apr_isdigit(*c))
            return -1;
    }
    if (parse_long(text, &n) != 0 || n < 1 || n > 65535)
        return -1;
    *port = (int) n;
    return 0;
}

const char *aip_yaml_listen_address(apr_pool_t *p, const aip_yaml_config *cfg, const char **host,
                                    int *port)
{
    const char *listen = cfg->listen.value, *colon = strrchr(listen, ':');
    const char *bad = apr_psprintf(p,
                                   "listen '%s': expected ':PORT', 'HOST:PORT' or "
                                   "'[IPv6]:PORT' with a port from 1 to 65535",
                                   listen);
    *host = cfg->bind.value;
    if (!colon)
        return parse_port(listen, port) == 0 ? NULL : bad;
    if (parse_port(colon + 1, port) != 0)
        return bad;
    if (colon == listen)
        return NULL;
    if (listen[0] == '[') {
        if (colon[-1] != ']' || colon - listen < 3)
            return bad;
        *host = apr_pstrmemdup(p, listen + 1, (apr_size_t) (colon - listen - 2));
        return NULL;
    }
    *host = apr_pstrmemdup(p, listen, (apr_size_t) (colon - listen));
    return strchr(*host, ':') ? bad : NULL; /* an IPv6 host needs its brackets */
}

const char *aip_yaml_route_name(apr_pool_t *p, const char *name)
{
    char *out = apr_pstrdup(p, name);
    for (char *c = out; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_' && *c != '.')
            *c = '-';
    }
    return out;
}
