/* httpd glue of mod_aiproxy_mock: the part that needs httpd headers. */
#ifndef MOCK_GLUE_H
#define MOCK_GLUE_H

#include "httpd.h"

#include "mock.h"

/* Send a reply: status, headers, then its frames; a stream flushes after every frame. Honours
 * [mock:slow] (pause between stream events, or before a JSON body), [mock:cut] (close the
 * connection abruptly after the headers and N frames, or N bytes of a JSON body) and [mock:drop]
 * (close it without any response). Returns OK. */
int mock_send_reply(request_rec *r, const mock_reply *rep, const mock_scenario *sc);

#endif
