/* OpenAI Responses API shapes: POST .../responses (a response object, or named SSE events with
 * sequence numbers), POST .../responses/compact and POST .../responses/input_tokens. Errors use the
 * OpenAI envelope. */
#include <string.h>

#include <apr_strings.h>

#include "mock.h"

#define SALT_RESPONSE   21
#define SALT_REASONING  22
#define SALT_MESSAGE    23
#define SALT_FUNCTION   24
#define SALT_CALL       25
#define SALT_ENCRYPTED  26
#define SALT_REQUEST    27
#define SALT_COMPACTION 28

typedef struct {
    const char *response;
    const char *reasoning;
    const char *message;
    const char *function;
    const char *call;
} item_ids;

static void responses_parse(mock_call *c)
{
    const json_t *input = json_object_get(c->body, "input");
    const json_t *tools = json_object_get(c->body, "tools");
    const json_t *tool;
    const char *model = mock_json_str(c->body, "model");
    size_t i;

    c->model = model ? model : "";
    c->stream = json_is_true(json_object_get(c->body, "stream"));
    c->user_text = "";
    c->user_text_len = 0;
    if (json_is_string(input)) {
        c->user_text = json_string_value(input);
        c->user_text_len = json_string_length(input);
    }
    for (i = json_array_size(input); i > 0; i--) {
        const json_t *item = json_array_get(input, i - 1);
        const char *role = mock_json_str(item, "role");
        if (role && strcmp(role, "user") == 0) {
            c->user_text = mock_content_text(c->pool, json_object_get(item, "content"),
                                             "input_text", "text", &c->user_text_len);
            break;
        }
    }
    c->tool_name = NULL;
    json_array_foreach(tools, i, tool)
    {
        const char *type = mock_json_str(tool, "type");
        if (type && strcmp(type, "function") == 0 && mock_json_str(tool, "name")) {
            c->tool_name = mock_json_str(tool, "name");
            break;
        }
    }
}

static void make_ids(const mock_call *c, item_ids *ids)
{
    ids->response = mock_id(c->pool, "resp_", c->seed, SALT_RESPONSE, 40);
    ids->reasoning = mock_id(c->pool, "rs_", c->seed, SALT_REASONING, 40);
    ids->message = mock_id(c->pool, "msg_", c->seed, SALT_MESSAGE, 40);
    ids->function = mock_id(c->pool, "fc_", c->seed, SALT_FUNCTION, 40);
    ids->call = mock_id(c->pool, "call_", c->seed, SALT_CALL, 24);
}

static json_t *usage_object(const mock_plan *p)
{
    return json_pack("{s:I,s:{s:I},s:I,s:{s:I},s:I}", "input_tokens", (json_int_t) p->input_tokens,
                     "input_tokens_details", "cached_tokens", (json_int_t) 0, "output_tokens",
                     (json_int_t) p->output_tokens, "output_tokens_details", "reasoning_tokens",
                     (json_int_t) p->reasoning_tokens, "total_tokens",
                     (json_int_t) (p->input_tokens + p->output_tokens));
}

/* The request's value of key, or fallback (whose reference is taken). */
static json_t *echo(const mock_call *c, const char *key, json_t *fallback)
{
    json_t *v = json_object_get(c->body, key);
    if (v && !json_is_null(v)) {
        json_decref(fallback);
        return json_incref(v);
    }
    return fallback;
}

static json_t *response_object(const mock_call *c, const item_ids *ids, const char *status,
                               json_t *output, json_t *usage)
{
    const json_t *reasoning = json_object_get(c->body, "reasoning");
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:b,s:n,s:n}", "id", ids->response, "object",
                          "response", "created_at", (json_int_t) apr_time_sec(c->now), "status",
                          status, "background", 0, "error", "incomplete_details");
    json_object_set_new(o, "instructions", echo(c, "instructions", json_null()));
    json_object_set_new(o, "max_output_tokens", echo(c, "max_output_tokens", json_null()));
    json_object_set_new(o, "model", json_string(c->model));
    json_object_set_new(o, "output", output);
    json_object_set_new(o, "parallel_tool_calls", echo(c, "parallel_tool_calls", json_true()));
    json_object_set_new(o, "previous_response_id", echo(c, "previous_response_id", json_null()));
    json_object_set_new(
        o, "reasoning",
        json_pack("{s:O,s:O}", "effort",
                  json_object_get(reasoning, "effort") ? json_object_get(reasoning, "effort")
                                                       : json_null(),
                  "summary",
                  json_object_get(reasoning, "summary") ? json_object_get(reasoning, "summary")
                                                        : json_null()));
    json_object_set_new(o, "store", echo(c, "store", json_true()));
    json_object_set_new(o, "temperature", echo(c, "temperature", json_real(1.0)));
    json_object_set_new(o, "text", json_pack("{s:{s:s}}", "format", "type", "text"));
    json_object_set_new(o, "tool_choice", echo(c, "tool_choice", json_string("auto")));
    json_object_set_new(o, "tools", echo(c, "tools", json_array()));
    json_object_set_new(o, "top_p", echo(c, "top_p", json_real(1.0)));
    json_object_set_new(o, "truncation", json_string("disabled"));
    json_object_set_new(o, "usage", usage ? usage : json_null());
    json_object_set_new(o, "user", json_null());
    json_object_set_new(o, "metadata", echo(c, "metadata", json_object()));
    return o;
}

static json_t *reasoning_item(const mock_call *c, const item_ids *ids, const mock_plan *p, int done)
{
    json_t *summary =
        done ? json_pack("[{s:s,s:s}]", "type", "summary_text", "text", p->thinking_full)
             : json_array();
    json_t *item =
        json_pack("{s:s,s:s,s:o}", "id", ids->reasoning, "type", "reasoning", "summary", summary);
    if (done) {
        json_object_set_new(
            item, "encrypted_content",
            json_string(mock_blob_b64(c->pool, "gAAAAA", c->seed, SALT_ENCRYPTED, 96)));
    }
    return item;
}

static json_t *output_text_part(const char *text, apr_size_t len)
{
    return json_pack("{s:s,s:[],s:[],s:s%}", "type", "output_text", "annotations", "logprobs",
                     "text", text, len);
}

static json_t *message_item(const item_ids *ids, const mock_plan *p, int done)
{
    json_t *content =
        done ? json_pack("[o]", output_text_part(p->text_full, p->text_full_len)) : json_array();
    return json_pack("{s:s,s:s,s:s,s:o,s:s}", "id", ids->message, "type", "message", "status",
                     done ? "completed" : "in_progress", "content", content, "role", "assistant");
}

static json_t *function_item(const item_ids *ids, const mock_plan *p, int done)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", ids->function, "type", "function_call",
                     "status", done ? "completed" : "in_progress", "arguments",
                     done ? p->tool_args_full : "", "call_id", ids->call, "name", p->tool_name);
}

static json_t *completed_output(const mock_call *c, const item_ids *ids, const mock_plan *p)
{
    json_t *output = json_array();
    if (p->thinking_full) {
        json_array_append_new(output, reasoning_item(c, ids, p, 1));
    }
    if (p->text_full) {
        json_array_append_new(output, message_item(ids, p, 1));
    }
    if (p->tool_name) {
        json_array_append_new(output, function_item(ids, p, 1));
    }
    return output;
}

/* ---- streaming ---- */

typedef struct {
    const mock_call *c;
    const mock_plan *p;
    const item_ids *ids;
    mock_reply *out;
    int seq;
} stream_state;

/* One event: {"type":type,"sequence_number":n, ...fields}; takes fields. */
static void emit(stream_state *st, const char *type, json_t *fields)
{
    json_t *o = json_pack("{s:s,s:i}", "type", type, "sequence_number", st->seq++);
    json_object_update(o, fields);
    json_decref(fields);
    mock_reply_sse(st->out, type, o);
}

static void stream_reasoning(stream_state *st, int index)
{
    const mock_plan *p = st->p;
    const char *id = st->ids->reasoning;

    emit(st, "response.output_item.added",
         json_pack("{s:i,s:o}", "output_index", index, "item",
                   reasoning_item(st->c, st->ids, p, 0)));
    emit(st, "response.reasoning_summary_part.added",
         json_pack("{s:s,s:i,s:i,s:{s:s,s:s}}", "item_id", id, "output_index", index,
                   "summary_index", 0, "part", "type", "summary_text", "text", ""));
    for (int i = 0; i < p->thinking->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->thinking, i, mock_piece);
        emit(st, "response.reasoning_summary_text.delta",
             json_pack("{s:s,s:i,s:i,s:s%}", "item_id", id, "output_index", index, "summary_index",
                       0, "delta", piece->s, piece->len));
    }
    emit(st, "response.reasoning_summary_text.done",
         json_pack("{s:s,s:i,s:i,s:s}", "item_id", id, "output_index", index, "summary_index", 0,
                   "text", p->thinking_full));
    emit(st, "response.reasoning_summary_part.done",
         json_pack("{s:s,s:i,s:i,s:{s:s,s:s}}", "item_id", id, "output_index", index,
                   "summary_index", 0, "part", "type", "summary_text", "text", p->thinking_full));
    emit(st, "response.output_item.done",
         json_pack("{s:i,s:o}", "output_index", index, "item",
                   reasoning_item(st->c, st->ids, p, 1)));
}

static void stream_message(stream_state *st, int index)
{
    const mock_plan *p = st->p;
    const char *id = st->ids->message;

    emit(st, "response.output_item.added",
         json_pack("{s:i,s:o}", "output_index", index, "item", message_item(st->ids, p, 0)));
    emit(st, "response.content_part.added",
         json_pack("{s:s,s:i,s:i,s:o}", "item_id", id, "output_index", index, "content_index", 0,
                   "part", output_text_part("", 0)));
    for (int i = 0; i < p->text->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->text, i, mock_piece);
        emit(st, "response.output_text.delta",
             json_pack("{s:s,s:i,s:i,s:s%,s:[]}", "item_id", id, "output_index", index,
                       "content_index", 0, "delta", piece->s, piece->len, "logprobs"));
    }
    emit(st, "response.output_text.done",
         json_pack("{s:s,s:i,s:i,s:s%,s:[]}", "item_id", id, "output_index", index, "content_index",
                   0, "text", p->text_full, p->text_full_len, "logprobs"));
    emit(st, "response.content_part.done",
         json_pack("{s:s,s:i,s:i,s:o}", "item_id", id, "output_index", index, "content_index", 0,
                   "part", output_text_part(p->text_full, p->text_full_len)));
    emit(st, "response.output_item.done",
         json_pack("{s:i,s:o}", "output_index", index, "item", message_item(st->ids, p, 1)));
}

static void stream_function(stream_state *st, int index)
{
    const mock_plan *p = st->p;
    const char *id = st->ids->function;

    emit(st, "response.output_item.added",
         json_pack("{s:i,s:o}", "output_index", index, "item", function_item(st->ids, p, 0)));
    for (int i = 0; i < p->tool_args->nelts; i++) {
        const mock_piece *piece = &APR_ARRAY_IDX(p->tool_args, i, mock_piece);
        emit(st, "response.function_call_arguments.delta",
             json_pack("{s:s,s:i,s:s%}", "item_id", id, "output_index", index, "delta", piece->s,
                       piece->len));
    }
    emit(st, "response.function_call_arguments.done",
         json_pack("{s:s,s:i,s:s,s:s}", "item_id", id, "output_index", index, "name", p->tool_name,
                   "arguments", p->tool_args_full));
    emit(st, "response.output_item.done",
         json_pack("{s:i,s:o}", "output_index", index, "item", function_item(st->ids, p, 1)));
}

static void reply_stream(const mock_call *c, const mock_plan *p, const item_ids *ids,
                         mock_reply *out)
{
    stream_state st = {c, p, ids, out, 0};
    int index = 0;

    mock_reply_stream(out, "text/event-stream; charset=utf-8");
    emit(
        &st, "response.created",
        json_pack("{s:o}", "response", response_object(c, ids, "in_progress", json_array(), NULL)));
    emit(
        &st, "response.in_progress",
        json_pack("{s:o}", "response", response_object(c, ids, "in_progress", json_array(), NULL)));
    if (p->thinking_full) {
        stream_reasoning(&st, index++);
    }
    if (p->text_full) {
        stream_message(&st, index++);
    }
    if (p->tool_name) {
        stream_function(&st, index++);
    }
    emit(&st, "response.completed",
         json_pack(
             "{s:o}", "response",
             response_object(c, ids, "completed", completed_output(c, ids, p), usage_object(p))));
}

/* POST .../responses/compact: the user messages, then one opaque compaction item. */
static void reply_compact(const mock_call *c, const mock_plan *p, const item_ids *ids,
                          mock_reply *out)
{
    json_t *output = json_array();
    json_array_append_new(output,
                          json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s%}]}", "id", ids->message, "type",
                                    "message", "status", "completed", "role", "user", "content",
                                    "type", "input_text", "text", c->user_text, c->user_text_len));
    json_array_append_new(output,
                          json_pack("{s:s,s:s,s:s}", "id",
                                    mock_id(c->pool, "cmp_", c->seed, SALT_COMPACTION, 40), "type",
                                    "compaction", "encrypted_content",
                                    mock_blob_b64(c->pool, "gAAAAA", c->seed, SALT_ENCRYPTED, 96)));
    mock_reply_body(out, 200,
                    json_pack("{s:s,s:s,s:I,s:o,s:o}", "id", ids->response, "object",
                              "response.compaction", "created_at",
                              (json_int_t) apr_time_sec(c->now), "output", output, "usage",
                              usage_object(p)));
}

static void responses_reply(const mock_call *c, const mock_plan *p, mock_reply *out)
{
    item_ids ids;
    make_ids(c, &ids);
    apr_table_setn(out->headers, "x-request-id",
                   mock_id(c->pool, "req_", c->seed, SALT_REQUEST, 32));
    if (c->route.ep == MOCK_EP_COMPACT) {
        reply_compact(c, p, &ids, out);
    } else if (c->route.ep == MOCK_EP_COUNT_TOKENS) {
        mock_reply_body(out, 200,
                        json_pack("{s:s,s:I}", "object", "response.input_tokens", "input_tokens",
                                  (json_int_t) p->input_tokens));
    } else if (c->stream) {
        reply_stream(c, p, &ids, out);
    } else {
        mock_reply_body(
            out, 200,
            response_object(c, &ids, "completed", completed_output(c, &ids, p), usage_object(p)));
    }
}

static void responses_error(const mock_call *c, mock_reply *out, int status, const char *message)
{
    apr_table_setn(out->headers, "x-request-id",
                   mock_id(c->pool, "req_", c->seed, SALT_REQUEST, 32));
    mock_reply_body(out, status, mock_openai_error_json(status, message));
}

/* An `error` event, then `response.failed`, then the end of the stream. */
static void responses_stream_error(const mock_call *c, mock_reply *out)
{
    static const char message[] =
        "The server had an error while processing your request. Sorry about that!";
    item_ids ids;
    stream_state st = {c, NULL, &ids, out, 0};
    json_t *failed;

    make_ids(c, &ids);
    mock_reply_stream(out, "text/event-stream; charset=utf-8");
    emit(&st, "error",
         json_pack("{s:s,s:s,s:n}", "code", "server_error", "message", message, "param"));
    failed = response_object(c, &ids, "failed", json_array(), NULL);
    json_object_set_new(failed, "error",
                        json_pack("{s:s,s:s}", "code", "server_error", "message", message));
    emit(&st, "response.failed", json_pack("{s:o}", "response", failed));
}

const mock_provider mock_responses_provider = {
    "responses",     responses_parse,        responses_reply,
    responses_error, responses_stream_error, mock_openai_quota,
};
