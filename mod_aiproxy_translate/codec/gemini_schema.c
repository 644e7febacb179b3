/* codec/gemini_schema.c: see codec/gemini_schema.h. */
#include <string.h>
#include "codec/gemini_schema.h"

/* Keywords of Gemini's Schema copied unchanged when their value has the listed JSON type.
 * Everything not named here or handled below ($schema, $id, additionalProperties, not,
 * if/then/else, patternProperties, uniqueItems, exclusive bounds ...) is dropped. */
static const struct {
    const char *key;
    tr_jv_type type; /* TR_JV_TRUE stands for any boolean, TR_JV_REAL for any number */
} copied_keywords[] = {
    {"description", TR_JV_STRING},     {"title", TR_JV_STRING},
    {"pattern", TR_JV_STRING},         {"nullable", TR_JV_TRUE},
    {"minItems", TR_JV_INTEGER},       {"maxItems", TR_JV_INTEGER},
    {"minLength", TR_JV_INTEGER},      {"maxLength", TR_JV_INTEGER},
    {"minProperties", TR_JV_INTEGER},  {"maxProperties", TR_JV_INTEGER},
    {"minimum", TR_JV_REAL},           {"maximum", TR_JV_REAL},
    {"propertyOrdering", TR_JV_ARRAY},
};

/* type -> the formats Gemini accepts for it (the Developer API rejects any other). */
static const struct {
    const char *type;
    const char *format;
} gemini_formats[] = {
    {"string", "enum"},   {"string", "date-time"}, {"integer", "int32"},
    {"integer", "int64"}, {"number", "float"},     {"number", "double"},
};

static const char *const gemini_types[] = {"string",  "number", "integer",
                                           "boolean", "array",  "object"};

/* Limits against hostile or cyclic $ref graphs. */
#define MAX_REF_DEPTH      8
#define MAX_REF_EXPANSIONS 256

typedef struct {
    apr_pool_t *p;
    const tr_jv *root;
    int ref_depth;
    int expansions;
    const char *expanding[MAX_REF_DEPTH]; /* refs on the current path: a repeat is a cycle */
} clean_ctx;

static int ref_on_path(const clean_ctx *ctx, const char *ref)
{
    if (!strcmp(ref, "#")) /* the root contains itself: always a cycle */
        return 1;
    for (int i = 0; i < ctx->ref_depth; i++) {
        if (!strcmp(ctx->expanding[i], ref))
            return 1;
    }
    return 0;
}

static tr_jv *clean(clean_ctx *ctx, const tr_jv *node);

static int value_has_type(const tr_jv *v, tr_jv_type type)
{
    switch (type) {
    case TR_JV_TRUE:
        return tr_jv_is_bool(v);
    case TR_JV_INTEGER:
        return tr_jv_is_integer(v);
    case TR_JV_REAL:
        return tr_jv_is_number(v);
    default:
        return tr_jv_typeof(v) == type;
    }
}

static int is_gemini_type(const char *t)
{
    for (size_t i = 0; t && i < sizeof(gemini_types) / sizeof(gemini_types[0]); i++) {
        if (!strcmp(gemini_types[i], t))
            return 1;
    }
    return 0;
}

static int format_allowed(const char *type, const char *format)
{
    for (size_t i = 0; type && i < sizeof(gemini_formats) / sizeof(gemini_formats[0]); i++) {
        if (!strcmp(gemini_formats[i].type, type) && !strcmp(gemini_formats[i].format, format))
            return 1;
    }
    return 0;
}

/* "#/$defs/Name" or "#/definitions/Name" in the root schema, or NULL. */
static const tr_jv *resolve_ref(const clean_ctx *ctx, const char *ref)
{
    static const char *const prefixes[] = {"#/$defs/", "#/definitions/"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (!strncmp(ref, prefixes[i], n)) {
            tr_jv *defs = tr_jv_get(ctx->root, i == 0 ? "$defs" : "definitions");
            return tr_jv_get(defs, ref + n);
        }
    }
    return !strcmp(ref, "#") ? ctx->root : NULL;
}

/* Inline a $ref: its target, cleaned, with the referring node's description on top. */
static tr_jv *clean_ref(clean_ctx *ctx, const tr_jv *node, const char *ref)
{
    const tr_jv *target = resolve_ref(ctx, ref);
    tr_jv *out;

    if (!target || ctx->ref_depth >= MAX_REF_DEPTH || ctx->expansions >= MAX_REF_EXPANSIONS ||
        ref_on_path(ctx, ref))
        out = NULL;
    else {
        ctx->expanding[ctx->ref_depth++] = ref;
        ctx->expansions++;
        out = clean(ctx, target);
        ctx->ref_depth--;
    }
    /* Unresolvable, recursive or too deep: an untyped object is the honest rest. */
    if (!out)
        out = tr_jv_pack(ctx->p, "{s:s}", "type", "object");
    if (tr_jv_is_string(tr_jv_get(node, "description")))
        tr_jv_set(out, "description", tr_jv_get(node, "description"));
    return out;
}

/* anyOf/oneOf members cleaned; a {"type":"null"} member becomes nullable. A single member
 * left is merged into the node instead of a one-element anyOf. */
static void clean_alternatives(clean_ctx *ctx, tr_jv *out, const tr_jv *alts)
{
    tr_jv *kept = tr_jv_array(ctx->p);
    size_t i;
    tr_jv *alt;

    tr_jv_array_foreach(alts, i, alt)
    {
        const char *t = tr_jv_str_value(tr_jv_get(alt, "type"));
        if (t && !strcmp(t, "null")) {
            tr_jv_set(out, "nullable", tr_jv_bool(1));
            continue;
        }
        tr_jv *c = clean(ctx, alt);
        if (c)
            tr_jv_push(kept, c);
    }
    if (tr_jv_size(kept) == 1)
        tr_jv_update_missing(out, tr_jv_at(kept, 0));
    else if (tr_jv_size(kept) > 1)
        tr_jv_set(out, "anyOf", kept);
}

/* allOf: members merged into the node (properties and required united). */
static void clean_all_of(clean_ctx *ctx, tr_jv *out, const tr_jv *all)
{
    size_t i;
    tr_jv *member;

    tr_jv_array_foreach(all, i, member)
    {
        tr_jv *c = clean(ctx, member);
        if (!c)
            continue;
        tr_jv *props = tr_jv_get(c, "properties");
        tr_jv *req = tr_jv_get(c, "required");
        if (props) {
            tr_jv *mine = tr_jv_get(out, "properties");
            if (!mine)
                tr_jv_set(out, "properties", props);
            else
                tr_jv_update_missing(mine, props);
        }
        if (req) {
            tr_jv *mine = tr_jv_get(out, "required");
            if (!mine)
                tr_jv_set(out, "required", req);
            else
                tr_jv_extend(mine, req);
        }
        tr_jv_del(c, "properties");
        tr_jv_del(c, "required");
        tr_jv_update_missing(out, c);
    }
}

/* type: one Gemini type; "null" in a type array becomes nullable; several types anyOf. */
static void clean_type(apr_pool_t *p, tr_jv *out, const tr_jv *type)
{
    if (tr_jv_is_string(type)) {
        if (is_gemini_type(tr_jv_str_value(type)))
            tr_jv_set(out, "type", (tr_jv *) type);
        return;
    }
    if (!tr_jv_is_array(type))
        return;
    tr_jv *kept = tr_jv_array(p);
    size_t i;
    tr_jv *t;
    tr_jv_array_foreach(type, i, t)
    {
        if (tr_jv_is_string(t) && !strcmp(tr_jv_str_value(t), "null"))
            tr_jv_set(out, "nullable", tr_jv_bool(1));
        else if (tr_jv_is_string(t) && is_gemini_type(tr_jv_str_value(t)))
            tr_jv_push(kept, t);
    }
    if (tr_jv_size(kept) == 1)
        tr_jv_set(out, "type", tr_jv_at(kept, 0));
    else if (tr_jv_size(kept) > 1) {
        tr_jv *alts = tr_jv_array(p);
        tr_jv_array_foreach(kept, i, t) tr_jv_push(alts, tr_jv_pack(p, "{s:O}", "type", t));
        tr_jv_set(out, "anyOf", alts);
    }
}

/* enum (or const): Gemini takes strings only; null members become nullable. */
static void clean_enum(apr_pool_t *p, tr_jv *out, const tr_jv *values)
{
    tr_jv *kept = tr_jv_array(p);
    size_t i;
    tr_jv *v;
    int all_strings = 1;

    tr_jv_array_foreach(values, i, v)
    {
        if (tr_jv_is_null(v))
            tr_jv_set(out, "nullable", tr_jv_bool(1));
        else if (tr_jv_is_string(v))
            tr_jv_push(kept, v);
        else
            all_strings = 0;
    }
    /* Numeric enums cannot be expressed: the type alone is the faithful rest. */
    if (all_strings && tr_jv_size(kept))
        tr_jv_set(out, "enum", kept);
}

static void clean_properties(clean_ctx *ctx, tr_jv *out, const tr_jv *props)
{
    tr_jv *kept = tr_jv_object(ctx->p);
    apr_size_t i;
    const char *name;
    tr_jv *schema;

    tr_jv_object_foreach(props, i, name, schema)
    {
        tr_jv *c = clean(ctx, schema);
        tr_jv_set(kept, name, c ? c : tr_jv_object(ctx->p));
    }
    if (tr_jv_size(kept))
        tr_jv_set(out, "properties", kept);
}

/* required: only names that are properties (Gemini rejects the others). */
static void clean_required(apr_pool_t *p, tr_jv *out, const tr_jv *required)
{
    tr_jv *props = tr_jv_get(out, "properties");
    tr_jv *kept = tr_jv_array(p);
    size_t i;
    tr_jv *name;

    tr_jv_array_foreach(required, i, name)
    {
        if (tr_jv_is_string(name) && tr_jv_get(props, tr_jv_str_value(name)))
            tr_jv_push(kept, name);
    }
    if (tr_jv_size(kept))
        tr_jv_set(out, "required", kept);
}

static tr_jv *clean(clean_ctx *ctx, const tr_jv *node)
{
    tr_jv *out, *v;
    const char *ref;

    if (!tr_jv_is_object(node))
        return NULL;
    ref = tr_jv_str_value(tr_jv_get(node, "$ref"));
    if (ref)
        return clean_ref(ctx, node, ref);

    out = tr_jv_object(ctx->p);
    clean_type(ctx->p, out, tr_jv_get(node, "type"));
    for (size_t i = 0; i < sizeof(copied_keywords) / sizeof(copied_keywords[0]); i++) {
        v = tr_jv_get(node, copied_keywords[i].key);
        if (v && value_has_type(v, copied_keywords[i].type))
            tr_jv_set(out, copied_keywords[i].key, v);
    }
    if ((v = tr_jv_get(node, "default")))
        tr_jv_set(out, "default", v);
    if (tr_jv_is_array(v = tr_jv_get(node, "enum")))
        clean_enum(ctx->p, out, v);
    else if ((v = tr_jv_get(node, "const")))
        clean_enum(ctx->p, out, tr_jv_pack(ctx->p, "[O]", v));
    if (tr_jv_is_string(v = tr_jv_get(node, "format")) &&
        format_allowed(tr_jv_str_value(tr_jv_get(out, "type")), tr_jv_str_value(v)))
        tr_jv_set(out, "format", v);
    if (tr_jv_is_object(v = tr_jv_get(node, "properties")))
        clean_properties(ctx, out, v);
    if (tr_jv_is_array(v = tr_jv_get(node, "required")))
        clean_required(ctx->p, out, v);
    v = tr_jv_get(node, "items");
    if (tr_jv_is_array(v)) /* tuple form: the first item stands for all */
        v = tr_jv_at(v, 0);
    if (tr_jv_is_object(v)) {
        tr_jv *c = clean(ctx, v);
        if (c)
            tr_jv_set(out, "items", c);
    }
    if (tr_jv_is_array(v = tr_jv_get(node, "anyOf")) ||
        tr_jv_is_array(v = tr_jv_get(node, "oneOf")))
        clean_alternatives(ctx, out, v);
    if (tr_jv_is_array(v = tr_jv_get(node, "allOf")))
        clean_all_of(ctx, out, v);
    return out;
}

tr_jv *tr_gemini_schema_from_json_schema(apr_pool_t *p, const tr_jv *schema)
{
    clean_ctx ctx = {p, schema, 0, 0, {0}};
    tr_jv *out = clean(&ctx, schema);
    const char *type = tr_jv_str_value(tr_jv_get(out, "type"));

    /* Gemini refuses function parameters of type object without properties. */
    if (out && (!type || !strcmp(type, "object")) && !tr_jv_get(out, "properties") &&
        !tr_jv_get(out, "anyOf"))
        return NULL;
    return out;
}

/* ---- Gemini -> JSON Schema ------------------------------------------------------------------ */

/* A Gemini type name (STRING, OBJECT ...) in JSON Schema's lower case; NULL for anything but
 * a short ASCII word, which no type name of either side is. */
static tr_jv *lower_type(apr_pool_t *p, const char *t)
{
    apr_size_t n = strlen(t);
    char *out;

    if (n == 0 || n > 15)
        return NULL;
    out = apr_palloc(p, n + 1);
    for (apr_size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) t[i];
        if (c >= 0x80)
            return NULL;
        out[i] = (char) (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
    return tr_jv_string(p, out);
}

static tr_jv *from_gemini(apr_pool_t *p, const tr_jv *node)
{
    tr_jv *out = tr_jv_object(p), *value;
    apr_size_t j;
    const char *key;
    int nullable = tr_jv_is_true(tr_jv_get(node, "nullable"));

    tr_jv_object_foreach(node, j, key, value)
    {
        if (!strcmp(key, "type") && tr_jv_is_string(value)) {
            tr_jv *t = lower_type(p, tr_jv_str_value(value));
            if (nullable && t)
                tr_jv_set(out, key, tr_jv_pack(p, "[o,s]", t, "null"));
            else if (t)
                tr_jv_set(out, key, t);
        } else if (!strcmp(key, "nullable") || !strcmp(key, "propertyOrdering") ||
                   (!strcmp(key, "format") && tr_jv_is_string(value) &&
                    !strcmp(tr_jv_str_value(value), "enum")))
            continue; /* Gemini-only keywords */
        else if (!strcmp(key, "properties") && tr_jv_is_object(value)) {
            tr_jv *props = tr_jv_object(p);
            apr_size_t k;
            const char *name;
            tr_jv *sub;
            tr_jv_object_foreach(value, k, name, sub) tr_jv_set(props, name, from_gemini(p, sub));
            tr_jv_set(out, key, props);
        } else if (!strcmp(key, "items") && tr_jv_is_object(value))
            tr_jv_set(out, key, from_gemini(p, value));
        else if (!strcmp(key, "anyOf") && tr_jv_is_array(value)) {
            tr_jv *alts = tr_jv_array(p);
            size_t i;
            tr_jv *alt;
            tr_jv_array_foreach(value, i, alt) tr_jv_push(alts, from_gemini(p, alt));
            tr_jv_set(out, key, alts);
        } else
            tr_jv_set(out, key, value);
    }
    return out;
}

tr_jv *tr_gemini_schema_to_json_schema(apr_pool_t *p, const tr_jv *schema)
{
    return tr_jv_is_object(schema) ? from_gemini(p, schema) : NULL;
}
