/* tr_req_schema.c: see tr_req_schema.h. */
#include <string.h>
#include "apr_lib.h"
#include "tr_req_schema.h"

/* Keywords of Gemini's Schema copied unchanged when their value has the listed JSON type.
 * Everything not named here or handled below ($schema, $id, additionalProperties, not,
 * if/then/else, patternProperties, uniqueItems, exclusive bounds ...) is dropped. */
static const struct {
    const char *key;
    json_type type; /* JSON_INTEGER also accepts whole reals; JSON_REAL any number */
} copied_keywords[] = {
    {"description", JSON_STRING},     {"title", JSON_STRING},      {"pattern", JSON_STRING},
    {"nullable", JSON_TRUE},          {"minItems", JSON_INTEGER},  {"maxItems", JSON_INTEGER},
    {"minLength", JSON_INTEGER},      {"maxLength", JSON_INTEGER}, {"minProperties", JSON_INTEGER},
    {"maxProperties", JSON_INTEGER},  {"minimum", JSON_REAL},      {"maximum", JSON_REAL},
    {"propertyOrdering", JSON_ARRAY},
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
    const json_t *root;
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

static json_t *clean(clean_ctx *ctx, const json_t *node);

static int value_has_type(const json_t *v, json_type type)
{
    switch (type) {
    case JSON_TRUE:
        return json_is_boolean(v);
    case JSON_INTEGER:
        return json_is_integer(v);
    case JSON_REAL:
        return json_is_number(v);
    default:
        return json_typeof(v) == type;
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
static const json_t *resolve_ref(const clean_ctx *ctx, const char *ref)
{
    static const char *const prefixes[] = {"#/$defs/", "#/definitions/"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (!strncmp(ref, prefixes[i], n)) {
            json_t *defs = json_object_get(ctx->root, i == 0 ? "$defs" : "definitions");
            return json_object_get(defs, ref + n);
        }
    }
    return !strcmp(ref, "#") ? ctx->root : NULL;
}

/* Inline a $ref: its target, cleaned, with the referring node's description on top. */
static json_t *clean_ref(clean_ctx *ctx, const json_t *node, const char *ref)
{
    const json_t *target = resolve_ref(ctx, ref);
    json_t *out;

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
        out = json_pack("{s:s}", "type", "object");
    if (json_is_string(json_object_get(node, "description")))
        json_object_set(out, "description", json_object_get(node, "description"));
    return out;
}

/* anyOf/oneOf members cleaned; a {"type":"null"} member becomes nullable. A single member
 * left is merged into the node instead of a one-element anyOf. */
static void clean_alternatives(clean_ctx *ctx, json_t *out, const json_t *alts)
{
    json_t *kept = json_array();
    size_t i;
    json_t *alt;

    json_array_foreach(alts, i, alt)
    {
        const char *t = json_string_value(json_object_get(alt, "type"));
        if (t && !strcmp(t, "null")) {
            json_object_set_new(out, "nullable", json_true());
            continue;
        }
        json_t *c = clean(ctx, alt);
        if (c)
            json_array_append_new(kept, c);
    }
    if (json_array_size(kept) == 1)
        json_object_update_missing(out, json_array_get(kept, 0));
    else if (json_array_size(kept) > 1)
        json_object_set(out, "anyOf", kept);
    json_decref(kept);
}

/* allOf: members merged into the node (properties and required united). */
static void clean_all_of(clean_ctx *ctx, json_t *out, const json_t *all)
{
    size_t i;
    json_t *member;

    json_array_foreach(all, i, member)
    {
        json_t *c = clean(ctx, member);
        if (!c)
            continue;
        json_t *props = json_object_get(c, "properties");
        json_t *req = json_object_get(c, "required");
        if (props) {
            json_t *mine = json_object_get(out, "properties");
            if (!mine)
                json_object_set(out, "properties", props);
            else
                json_object_update_missing(mine, props);
        }
        if (req) {
            json_t *mine = json_object_get(out, "required");
            if (!mine)
                json_object_set(out, "required", req);
            else
                json_array_extend(mine, req);
        }
        json_object_del(c, "properties");
        json_object_del(c, "required");
        json_object_update_missing(out, c);
        json_decref(c);
    }
}

/* type: one Gemini type; "null" in a type array becomes nullable; several types anyOf. */
static void clean_type(json_t *out, const json_t *type)
{
    if (json_is_string(type)) {
        if (is_gemini_type(json_string_value(type)))
            json_object_set(out, "type", (json_t *) type);
        return;
    }
    if (!json_is_array(type))
        return;
    json_t *kept = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(type, i, t)
    {
        if (json_is_string(t) && !strcmp(json_string_value(t), "null"))
            json_object_set_new(out, "nullable", json_true());
        else if (json_is_string(t) && is_gemini_type(json_string_value(t)))
            json_array_append(kept, t);
    }
    if (json_array_size(kept) == 1)
        json_object_set(out, "type", json_array_get(kept, 0));
    else if (json_array_size(kept) > 1) {
        json_t *alts = json_array();
        json_array_foreach(kept, i, t) json_array_append_new(alts, json_pack("{s:O}", "type", t));
        json_object_set_new(out, "anyOf", alts);
    }
    json_decref(kept);
}

/* enum (or const): Gemini takes strings only; null members become nullable. */
static void clean_enum(json_t *out, const json_t *values)
{
    json_t *kept = json_array();
    size_t i;
    json_t *v;
    int all_strings = 1;

    json_array_foreach(values, i, v)
    {
        if (json_is_null(v))
            json_object_set_new(out, "nullable", json_true());
        else if (json_is_string(v))
            json_array_append(kept, v);
        else
            all_strings = 0;
    }
    /* Numeric enums cannot be expressed: the type alone is the faithful rest. */
    if (all_strings && json_array_size(kept))
        json_object_set(out, "enum", kept);
    json_decref(kept);
}

static void clean_properties(clean_ctx *ctx, json_t *out, const json_t *props)
{
    json_t *kept = json_object();
    const char *name;
    json_t *schema;

    json_object_foreach((json_t *) props, name, schema)
    {
        json_t *c = clean(ctx, schema);
        json_object_set_new(kept, name, c ? c : json_object());
    }
    if (json_object_size(kept))
        json_object_set(out, "properties", kept);
    json_decref(kept);
}

/* required: only names that are properties (Gemini rejects the others). */
static void clean_required(json_t *out, const json_t *required)
{
    json_t *props = json_object_get(out, "properties");
    json_t *kept = json_array();
    size_t i;
    json_t *name;

    json_array_foreach(required, i, name)
    {
        if (json_is_string(name) && json_object_get(props, json_string_value(name)))
            json_array_append(kept, name);
    }
    if (json_array_size(kept))
        json_object_set(out, "required", kept);
    json_decref(kept);
}

static json_t *clean(clean_ctx *ctx, const json_t *node)
{
    json_t *out, *v;
    const char *ref;

    if (!json_is_object(node))
        return NULL;
    ref = json_string_value(json_object_get(node, "$ref"));
    if (ref)
        return clean_ref(ctx, node, ref);

    out = json_object();
    clean_type(out, json_object_get(node, "type"));
    for (size_t i = 0; i < sizeof(copied_keywords) / sizeof(copied_keywords[0]); i++) {
        v = json_object_get(node, copied_keywords[i].key);
        if (v && value_has_type(v, copied_keywords[i].type))
            json_object_set(out, copied_keywords[i].key, v);
    }
    if ((v = json_object_get(node, "default")))
        json_object_set(out, "default", v);
    if (json_is_array(v = json_object_get(node, "enum")))
        clean_enum(out, v);
    else if ((v = json_object_get(node, "const"))) {
        json_t *one = json_pack("[O]", v);
        clean_enum(out, one);
        json_decref(one);
    }
    if (json_is_string(v = json_object_get(node, "format")) &&
        format_allowed(json_string_value(json_object_get(out, "type")), json_string_value(v)))
        json_object_set(out, "format", v);
    if (json_is_object(v = json_object_get(node, "properties")))
        clean_properties(ctx, out, v);
    if (json_is_array(v = json_object_get(node, "required")))
        clean_required(out, v);
    v = json_object_get(node, "items");
    if (json_is_array(v)) /* tuple form: the first item stands for all */
        v = json_array_get(v, 0);
    if (json_is_object(v)) {
        json_t *c = clean(ctx, v);
        if (c)
            json_object_set_new(out, "items", c);
    }
    if (json_is_array(v = json_object_get(node, "anyOf")) ||
        json_is_array(v = json_object_get(node, "oneOf")))
        clean_alternatives(ctx, out, v);
    if (json_is_array(v = json_object_get(node, "allOf")))
        clean_all_of(ctx, out, v);
    return out;
}

json_t *tr_req_schema_to_gemini(const json_t *schema)
{
    clean_ctx ctx = {schema, 0, 0, {0}};
    json_t *out = clean(&ctx, schema);
    const char *type = json_string_value(json_object_get(out, "type"));

    /* Gemini refuses function parameters of type object without properties. */
    if (out && (!type || !strcmp(type, "object")) && !json_object_get(out, "properties") &&
        !json_object_get(out, "anyOf")) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- Gemini -> JSON Schema ------------------------------------------------------------------ */

static json_t *lower_type(const char *t)
{
    char buf[16];
    size_t i;
    for (i = 0; t[i] && i < sizeof(buf) - 1; i++)
        buf[i] = (char) apr_tolower((unsigned char) t[i]);
    buf[i] = '\0';
    return json_string(buf);
}

static json_t *from_gemini(const json_t *node)
{
    json_t *out = json_object(), *value;
    const char *key;
    int nullable = json_is_true(json_object_get(node, "nullable"));

    json_object_foreach((json_t *) node, key, value)
    {
        if (!strcmp(key, "type") && json_is_string(value)) {
            json_t *t = lower_type(json_string_value(value));
            if (nullable && t)
                json_object_set_new(out, key, json_pack("[o,s]", t, "null"));
            else if (t)
                json_object_set_new(out, key, t);
        } else if (!strcmp(key, "nullable") || !strcmp(key, "propertyOrdering") ||
                   (!strcmp(key, "format") && json_is_string(value) &&
                    !strcmp(json_string_value(value), "enum")))
            continue; /* Gemini-only keywords */
        else if (!strcmp(key, "properties") && json_is_object(value)) {
            json_t *props = json_object();
            const char *name;
            json_t *sub;
            json_object_foreach(value, name, sub)
                json_object_set_new(props, name, from_gemini(sub));
            json_object_set_new(out, key, props);
        } else if (!strcmp(key, "items") && json_is_object(value))
            json_object_set_new(out, key, from_gemini(value));
        else if (!strcmp(key, "anyOf") && json_is_array(value)) {
            json_t *alts = json_array();
            size_t i;
            json_t *alt;
            json_array_foreach(value, i, alt) json_array_append_new(alts, from_gemini(alt));
            json_object_set_new(out, key, alts);
        } else
            json_object_set(out, key, value);
    }
    return out;
}

json_t *tr_req_schema_from_gemini(const json_t *schema)
{
    return json_is_object(schema) ? from_gemini(schema) : NULL;
}
