/* The forwarded endpoints (OpenAI images and audio, Cohere/Jina/OpenAI-style rerank): bodies
 * the gateway passes unchanged but for the model. JSON bodies and multipart/form-data uploads;
 * markers come from the prompt, input or query text (and AIProxyMockScenario). The multipart
 * reading here is the mock's own, independent of the gateway's scanner it tests. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_base64.h>
#include <apr_strings.h>

#include "mock.h"

/* Bytes of the speech reply, in frames flushed one by one (a chunked binary body). */
#define SPEECH_FRAMES     4
#define SPEECH_FRAME_SIZE 2048

typedef struct {
    const char *model;
    const char *text; /* where markers are read: prompt, input or query; "" if none */
    apr_size_t file_bytes;
    const char *file_name;
    int documents; /* rerank: how many documents */
    int stream;    /* a form's stream field is "true" */
} forward_request;

static const char *find_mem(const char *hay, apr_size_t len, const char *needle, apr_size_t n)
{
    for (apr_size_t i = 0; n <= len && i <= len - n; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/* The quoted parameter key="..." of a Content-Disposition line [s, end), or NULL. */
static const char *disposition_param(apr_pool_t *p, const char *s, const char *end, const char *key)
{
    const char *needle = apr_pstrcat(p, "; ", key, "=\"", NULL);
    const char *at = find_mem(s, (apr_size_t) (end - s), needle, strlen(needle));
    const char *close;
    if (!at) {
        return NULL;
    }
    at += strlen(needle);
    close = memchr(at, '"', (apr_size_t) (end - at));
    return close ? apr_pstrmemdup(p, at, (apr_size_t) (close - at)) : NULL;
}

/* Read the fields of a multipart/form-data body: model, prompt, and the file part's size and
 * name. Returns 0, or -1 when the body is not the multipart it claims. */
static int read_form(apr_pool_t *p, const char *content_type, const char *body, apr_size_t len,
                     forward_request *out)
{
    const char *b = content_type ? strstr(content_type, "boundary=") : NULL;
    const char *delim, *at, *end = body + len;
    apr_size_t dlen;

    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0 || !b) {
        return -1;
    }
    b += 9;
    if (*b == '"') {
        b = apr_pstrndup(p, b + 1, strcspn(b + 1, "\""));
    }
    delim = apr_pstrcat(p, "--", apr_pstrndup(p, b, strcspn(b, "; ")), NULL);
    dlen = strlen(delim);
    at = find_mem(body, len, delim, dlen);
    while (at) {
        const char *headers = at + dlen, *hend, *value, *next;
        const char *name, *filename;
        if (end - headers >= 2 && memcmp(headers, "--", 2) == 0) {
            return 0; /* the closing delimiter */
        }
        hend = find_mem(headers, (apr_size_t) (end - headers), "\r\n\r\n", 4);
        if (!hend) {
            return -1;
        }
        value = hend + 4;
        next = find_mem(value, (apr_size_t) (end - value), apr_pstrcat(p, "\r\n", delim, NULL),
                        dlen + 2);
        if (!next) {
            return -1;
        }
        name = disposition_param(p, headers, hend, "name");
        filename = disposition_param(p, headers, hend, "filename");
        if (filename) {
            out->file_bytes += (apr_size_t) (next - value);
            out->file_name = filename;
        } else if (name && strcmp(name, "model") == 0) {
            out->model = apr_pstrmemdup(p, value, (apr_size_t) (next - value));
        } else if (name && strcmp(name, "prompt") == 0) {
            out->text = apr_pstrmemdup(p, value, (apr_size_t) (next - value));
        } else if (name && strcmp(name, "stream") == 0) {
            out->stream = next - value == 4 && memcmp(value, "true", 4) == 0;
        }
        at = next + 2;
    }
    return -1;
}

static int read_json(const char *body, apr_size_t len, forward_request *out)
{
    static const char *const text_keys[] = {"prompt", "input", "query"};
    json_error_t jerr;
    json_t *json = json_loadb(body, len, 0, &jerr), *docs;

    if (!json || !json_is_object(json)) {
        json_decref(json);
        return -1;
    }
    /* copied out: the reply outlives the parsed body */
    out->model = mock_json_str(json, "model");
    out->model = out->model ? strdup(out->model) : NULL;
    for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]); i++) {
        const char *t = mock_json_str(json, text_keys[i]);
        if (t) {
            out->text = strdup(t);
            break;
        }
    }
    docs = json_object_get(json, "documents");
    out->documents = json_is_array(docs) ? (int) json_array_size(docs) : 0;
    json_decref(json);
    return 0;
}

/* strdup'd strings of read_json, moved into the pool. */
static void own_strings(apr_pool_t *p, forward_request *fr)
{
    char *model = (char *) fr->model, *text = (char *) fr->text;
    fr->model = model ? apr_pstrdup(p, model) : NULL;
    fr->text = text ? apr_pstrdup(p, text) : "";
    free(model);
    free(text);
}

static void images_reply(const mock_call *c, const forward_request *fr, mock_reply *out)
{
    const char *picture = apr_psprintf(c->pool, "mock image: %s", fr->text);
    char *b64 = apr_palloc(c->pool, (apr_size_t) apr_base64_encode_len((int) strlen(picture)));
    json_t *item;

    apr_base64_encode(b64, picture, (int) strlen(picture));
    item = json_pack("{s:s,s:s}", "b64_json", b64, "revised_prompt", fr->text);
    if (fr->file_name) {
        json_object_set_new(item, "edited_file", json_string(fr->file_name));
        json_object_set_new(item, "edited_bytes", json_integer((json_int_t) fr->file_bytes));
    }
    mock_reply_body(out, 200,
                    json_pack("{s:I,s:s,s:[o]}", "created", (json_int_t) apr_time_sec(c->now),
                              "model", fr->model, "data", item));
}

static void transcription_reply(const mock_call *c, const forward_request *fr, mock_reply *out)
{
    const char *text =
        apr_psprintf(c->pool, "mock transcript of %" APR_SIZE_T_FMT " bytes", fr->file_bytes);
    if (fr->stream) {
        /* OpenAI's streamed transcription: text deltas, then the whole text */
        static const char *const pieces[] = {"mock ", "transcript ", "of "};
        mock_reply_stream(out, "text/event-stream");
        for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
            mock_reply_sse(
                out, NULL,
                json_pack("{s:s,s:s}", "type", "transcript.text.delta", "delta", pieces[i]));
        }
        mock_reply_sse(out, NULL,
                       json_pack("{s:s,s:s,s:s}", "type", "transcript.text.done", "text", text,
                                 "model", fr->model));
        return;
    }
    mock_reply_body(out, 200,
                    json_pack("{s:s,s:s,s:I}", "text", text, "model", fr->model, "file_bytes",
                              (json_int_t) fr->file_bytes));
}

/* Binary frames with every byte value (NUL, CR, LF included), so a gateway that treats the
 * answer as text or buffers it shows. */
static void speech_reply(const mock_call *c, mock_reply *out)
{
    mock_reply_stream(out, "audio/mpeg");
    for (int f = 0; f < SPEECH_FRAMES; f++) {
        char *frame = apr_palloc(c->pool, SPEECH_FRAME_SIZE);
        for (int i = 0; i < SPEECH_FRAME_SIZE; i++) {
            frame[i] = (char) ((i + f * 7) & 0xff);
        }
        mock_reply_raw(out, frame, SPEECH_FRAME_SIZE);
    }
}

static void rerank_reply(const mock_call *c, const forward_request *fr, mock_reply *out)
{
    json_t *results = json_array();
    for (int i = 0; i < fr->documents; i++) {
        json_array_append_new(
            results, json_pack("{s:i,s:f}", "index", i, "relevance_score", 1.0 / (double) (i + 1)));
    }
    mock_reply_body(out, 200,
                    json_pack("{s:s,s:s,s:o,s:{s:i}}", "id",
                              mock_id(c->pool, "rr-", c->seed, 1, 12), "model", fr->model,
                              "results", results, "usage", "total_tokens", fr->documents * 10));
}

int mock_forward_endpoint(mock_endpoint ep)
{
    return ep == MOCK_EP_IMAGES || ep == MOCK_EP_IMAGE_EDITS || ep == MOCK_EP_SPEECH ||
           ep == MOCK_EP_TRANSCRIBE || ep == MOCK_EP_RERANK;
}

void mock_forward_reply(mock_call *c, const char *scenario, const char *content_type,
                        const char *body, apr_size_t body_len, mock_reply *out)
{
    forward_request fr;
    int multipart = c->route.ep == MOCK_EP_IMAGE_EDITS || c->route.ep == MOCK_EP_TRANSCRIBE;
    int rc;

    memset(&fr, 0, sizeof(fr));
    fr.text = "";
    if (multipart) {
        rc = read_form(c->pool, content_type, body, body_len, &fr);
    } else {
        rc = read_json(body, body_len, &fr);
        own_strings(c->pool, &fr);
    }
    if (rc != 0) {
        mock_openai_provider.error(c, out, 400,
                                   multipart ? "mock: not a well-formed multipart/form-data body"
                                             : "mock: could not parse the JSON body");
        return;
    }
    if (!fr.model) {
        mock_openai_provider.error(c, out, 400, "mock: you must provide a model parameter");
        return;
    }
    c->model = fr.model;
    if (scenario) {
        mock_scenario_parse(scenario, strlen(scenario), &c->sc);
    }
    mock_scenario_parse(fr.text, strlen(fr.text), &c->sc);
    if (c->sc.status >= 400) {
        mock_openai_provider.error(c, out, c->sc.status, NULL);
        return;
    }
    switch (c->route.ep) {
    case MOCK_EP_IMAGES:
    case MOCK_EP_IMAGE_EDITS:
        images_reply(c, &fr, out);
        break;
    case MOCK_EP_TRANSCRIBE:
        transcription_reply(c, &fr, out);
        break;
    case MOCK_EP_SPEECH:
        speech_reply(c, out);
        break;
    default:
        rerank_reply(c, &fr, out);
        break;
    }
}
