/* The load client of bench/capacity.py: opens many long streams through the gateway and
 * times each one's first event, cheaply enough that the machine's CPU goes to the gateway.
 *
 *   capacity_client --port P --streams N --ramp R --timeout S --path /v1/... --body JSON
 *
 * One thread, epoll, non-blocking sockets. Each stream is a POST of BODY to PATH with
 * Connection: close. At most R streams are awaiting their first event at once (connecting,
 * sending, or waiting for the answer): a new one opens when one of them gets its first
 * event or fails. A stream's first-event latency runs from its request write to the SSE data
 * line carrying CAPACITY_MARKER (the upstream's first event). The response is parsed as it
 * comes: the head, then the body in chunked framing, by Content-Length, or up to the close;
 * SSE lines are reassembled across reads and chunk boundaries. Every data line is an event.
 *
 * A stream succeeds when its body ends (the last chunk, the length, or the close) after its
 * protocol's final event (is_final_event); it fails, with a reason counted in the report, on
 * a connect or socket error, a status other than 200, bad chunk framing, an end before the
 * final event, or no bytes for --timeout seconds.
 *
 * Reports are JSON lines on stdout:
 *   {"kind":"opened",...}  once every stream has its first event or has failed
 *   {"kind":"snap",...}    for every line "snap" read on stdin: the counters now, so the
 *                          caller can pair them with its own readings (CPU, memory)
 *   {"kind":"final",...}   when every stream has ended or failed, then it exits; also on EOF
 *                          on stdin (the caller gave up), with "aborted":true
 * with the counters (events, ok = streams that got their first event, ended, failed, open),
 * the seconds since start, and in opened and final the first-event p50/p99/max and the
 * failure reasons with their counts. */
#include "capacity.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES (1 << 20)
#define MAX_REASONS    32
#define STDIN_TAG      ((void *) 1)

enum phase { CONNECTING, SENDING, HEAD, BODY };
enum framing { BY_CLOSE, BY_LENGTH, CHUNKED };
/* Where the chunk decoder is: in the size line (digits, then extensions), in the data, at
 * the CRLF after the data, or in the trailer after the last chunk. */
enum chunk_state { CK_SIZE, CK_EXT, CK_DATA, CK_DATA_END, CK_TRAILER };

struct stream {
    int fd;
    int index; /* in cl.all */
    enum phase phase;
    size_t req_off;
    int64_t sent_ns, last_ns;
    int got_first, saw_final, status_seen;
    enum framing framing;
    unsigned long long body_left; /* BY_LENGTH */
    enum chunk_state ck;
    unsigned long long ck_left;
    int ck_digits, ck_line_empty;
    char *line; /* the head or SSE line being assembled */
    size_t line_len, line_cap;
};

static struct {
    int epfd;
    struct sockaddr_in addr;
    int streams, ramp;
    double timeout_s;
    char *request;
    size_t request_len;
    int64_t start_ns;
    struct stream **all; /* every stream started, NULL once closed (for the timeout scan) */
    int started, waiting, open, ok, ended, failed;
    unsigned long long events;
    double *first_s; /* ok of them */
    int opened_reported;
    struct {
        char text[120];
        int count;
    } reasons[MAX_REASONS];
    int nreasons;
} cl;

static double since_start(void)
{
    return (double) (cap_now_ns() - cl.start_ns) / 1e9;
}

/* ---- the report ------------------------------------------------------------------------ */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char) *s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* The same nearest-rank percentile capacity.py used: sorted[ceil(p/100 n) - 1]. */
static void print_percentile(const char *name, const double *sorted, int n, double p)
{
    if (n == 0) {
        printf(",\"%s\":null", name);
        return;
    }
    int rank = (int) ceil(p / 100 * n) - 1;
    printf(",\"%s\":%.6f", name, sorted[rank < 0 ? 0 : rank >= n ? n - 1 : rank]);
}

static void report(const char *kind, int latencies, int aborted)
{
    printf("{\"kind\":\"%s\",\"t\":%.3f,\"streams\":%d,\"started\":%d,\"open\":%d,\"ok\":%d,"
           "\"ended\":%d,\"failed\":%d,\"events\":%llu",
           kind, since_start(), cl.streams, cl.started, cl.open, cl.ok, cl.ended, cl.failed,
           cl.events);
    if (latencies) {
        double *sorted = malloc(sizeof(double) * (size_t) (cl.ok ? cl.ok : 1));
        if (!sorted)
            abort();
        memcpy(sorted, cl.first_s, sizeof(double) * (size_t) cl.ok);
        qsort(sorted, (size_t) cl.ok, sizeof(double), cmp_double);
        print_percentile("first_p50_s", sorted, cl.ok, 50);
        print_percentile("first_p99_s", sorted, cl.ok, 99);
        print_percentile("first_max_s", sorted, cl.ok, 100);
        free(sorted);
        printf(",\"failures\":{");
        for (int i = 0; i < cl.nreasons; i++) {
            printf(i ? "," : "");
            json_string(cl.reasons[i].text);
            printf(":%d", cl.reasons[i].count);
        }
        putchar('}');
    }
    if (aborted)
        printf(",\"aborted\":true");
    printf("}\n");
    fflush(stdout);
}

/* ---- a stream's life ------------------------------------------------------------------- */

static void stream_close(struct stream *s)
{
    if (!s->got_first)
        cl.waiting--;
    cl.open--;
    close(s->fd);
    free(s->line);
    cl.all[s->index] = NULL;
    free(s);
}

static void stream_fail(struct stream *s, const char *fmt, ...)
{
    char text[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    int i = 0;
    while (i < cl.nreasons && strcmp(cl.reasons[i].text, text) != 0)
        i++;
    if (i == cl.nreasons && cl.nreasons < MAX_REASONS)
        snprintf(cl.reasons[cl.nreasons++].text, sizeof text, "%s", text);
    if (i < MAX_REASONS)
        cl.reasons[i].count++;
    cl.failed++;
    stream_close(s);
}

static const char *stage(const struct stream *s)
{
    return s->got_first ? "after the first event" : "before the first event";
}

/* The body ended (by its framing or the close): complete only after a final event. */
static void stream_end(struct stream *s)
{
    if (!s->saw_final) {
        stream_fail(s, "body ended without a final event (%s)", stage(s));
        return;
    }
    cl.ended++;
    stream_close(s);
}

static void watch(struct stream *s, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = s};
    epoll_ctl(cl.epfd, op, s->fd, &ev);
}

/* Appends bytes to the line being assembled. Returns -1 when it grows past any sane line. */
static int line_append(struct stream *s, const char *p, size_t n)
{
    if (s->line_len + n + 1 > s->line_cap) {
        if (s->line_len + n + 1 > LINE_MAX_BYTES)
            return -1;
        s->line_cap = (s->line_len + n + 1) * 2;
        s->line = realloc(s->line, s->line_cap);
        if (!s->line)
            abort();
    }
    memcpy(s->line + s->line_len, p, n);
    s->line_len += n;
    s->line[s->line_len] = '\0';
    return 0;
}

/* Calls line_done for every complete line in p (reassembled across calls). Returns the bytes
 * consumed: all of them, or fewer when line_done returned non-zero (1: the phase changed,
 * the rest is the body; 2: the stream was closed), which lands in *stop. */
typedef int (*line_fn)(struct stream *s, char *line, size_t len);

static size_t feed_lines(struct stream *s, const char *p, size_t n, line_fn line_done, int *stop)
{
    size_t used = 0;
    while (used < n && !*stop) {
        const char *nl = memchr(p + used, '\n', n - used);
        size_t take = nl ? (size_t) (nl - (p + used)) + 1 : n - used;
        if (line_append(s, p + used, take) != 0) {
            stream_fail(s, "line longer than %d bytes", LINE_MAX_BYTES);
            *stop = 2;
            return used;
        }
        used += take;
        if (!nl)
            break;
        size_t len = s->line_len - 1;
        if (len > 0 && s->line[len - 1] == '\r')
            len--;
        s->line[len] = '\0';
        s->line_len = 0;
        *stop = line_done(s, s->line, len);
    }
    return used;
}

/* The event that ends a stream, in each client protocol: OpenAI's [DONE], Anthropic's
 * message_stop, Responses' response.completed, Gemini's chunk with a finishReason. */
static int is_final_event(const char *line)
{
    static const char *const finals[] = {"[DONE]", "\"message_stop\"", "\"response.completed\"",
                                         "\"finishReason\""};

    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++)
        if (strstr(line, finals[i]))
            return 1;
    return 0;
}

/* An SSE line of the body. */
static int sse_line(struct stream *s, char *line, size_t len)
{
    if (len < 5 || memcmp(line, "data:", 5) != 0)
        return 0;
    cl.events++;
    if (!s->got_first && strstr(line, CAPACITY_MARKER)) {
        s->got_first = 1;
        cl.first_s[cl.ok++] = (double) (cap_now_ns() - s->sent_ns) / 1e9;
        cl.waiting--;
    }
    if (is_final_event(line))
        s->saw_final = 1;
    return 0;
}

/* A line of the response head: the status line, a header, or the empty line that ends it
 * (returns 1: the body starts). */
static int head_line(struct stream *s, char *line, size_t len)
{
    if (!s->status_seen) {
        s->status_seen = 1;
        if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || strncmp(line + 8, " 200", 4) != 0) {
            stream_fail(s, "status: %.60s", line);
            return 2;
        }
        return 0;
    }
    if (len == 0) {
        s->phase = BODY;
        return 1;
    }
    if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strcasestr(line, "chunked")) {
        s->framing = CHUNKED;
        s->ck = CK_SIZE;
    } else if (strncasecmp(line, "Content-Length:", 15) == 0 && s->framing != CHUNKED) {
        s->framing = BY_LENGTH;
        s->body_left = strtoull(line + 15, NULL, 10);
    }
    return 0;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char) (ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Chunked framing: data spans go to the SSE lines, the framing is checked byte by byte.
 * Returns 0, or 1 when the body is complete, or 2 when the stream was closed. */
static int feed_chunked(struct stream *s, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char ch = p[i];
        switch (s->ck) {
        case CK_DATA: {
            size_t take = n - i < s->ck_left ? n - i : (size_t) s->ck_left;
            int stop = 0;
            feed_lines(s, p + i, take, sse_line, &stop);
            if (stop)
                return 2;
            i += take;
            s->ck_left -= take;
            if (s->ck_left == 0)
                s->ck = CK_DATA_END;
            continue;
        }
        case CK_SIZE:
            if (hex_value(ch) >= 0) {
                if (s->ck_left >> 56) {
                    stream_fail(s, "bad chunk framing (%s)", stage(s));
                    return 2;
                }
                s->ck_left = s->ck_left * 16 + (unsigned) hex_value(ch);
                s->ck_digits++;
                break;
            }
            s->ck = CK_EXT;
            continue; /* this byte ends the digits: look at it again as the line's rest */
        case CK_EXT:
            if (ch != '\n')
                break;
            if (s->ck_digits == 0) {
                stream_fail(s, "bad chunk framing (%s)", stage(s));
                return 2;
            }
            s->ck = s->ck_left ? CK_DATA : CK_TRAILER;
            s->ck_line_empty = 1;
            break;
        case CK_DATA_END:
            if (ch == '\n') {
                s->ck = CK_SIZE;
                s->ck_left = 0;
                s->ck_digits = 0;
            } else if (ch != '\r') {
                stream_fail(s, "bad chunk framing (%s)", stage(s));
                return 2;
            }
            break;
        case CK_TRAILER:
            if (ch == '\n') {
                if (s->ck_line_empty)
                    return 1;
                s->ck_line_empty = 1;
            } else if (ch != '\r') {
                s->ck_line_empty = 0;
            }
            break;
        }
        i++;
    }
    return 0;
}

/* Bytes from the gateway. Returns 1 when the stream was closed here. */
static int stream_input(struct stream *s, const char *p, size_t n)
{
    if (s->phase == HEAD) {
        int stop = 0;
        size_t used = feed_lines(s, p, n, head_line, &stop);
        if (stop == 2)
            return 1;
        p += used;
        n -= used;
        if (s->phase != BODY)
            return 0;
        if (s->framing == BY_LENGTH && s->body_left == 0) {
            stream_end(s);
            return 1;
        }
    }
    int stop = 0;
    switch (s->framing) {
    case CHUNKED:
        stop = feed_chunked(s, p, n);
        if (stop == 1)
            stream_end(s);
        return stop != 0;
    case BY_LENGTH:
        if (n > s->body_left)
            n = (size_t) s->body_left;
        feed_lines(s, p, n, sse_line, &stop);
        if (stop)
            return 1;
        s->body_left -= n;
        if (s->body_left == 0) {
            stream_end(s);
            return 1;
        }
        return 0;
    case BY_CLOSE:
        feed_lines(s, p, n, sse_line, &stop);
        return stop != 0;
    }
    return 0;
}

static void stream_readable(struct stream *s)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n > 0) {
            s->last_ns = cap_now_ns();
            /* A short read took all there was: epoll (level-triggered) reports the rest,
             * which spares every event a second read that would only say EAGAIN. */
            if (stream_input(s, buf, (size_t) n) || (size_t) n < sizeof buf)
                return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0 && !s->saw_final) {
            stream_fail(s, "read: %s (%s)", strerror(errno), stage(s));
        } else if (s->phase == BODY && (s->framing == BY_CLOSE || s->saw_final)) {
            stream_end(s); /* a close-delimited body, or the final event is in */
        } else {
            stream_fail(s, "closed early, %s (%s)",
                        s->phase == BODY ? "in the body" : "before the response head", stage(s));
        }
        return;
    }
}

/* Writes the rest of the request; once it is all out, waits for the answer. */
static void stream_send(struct stream *s)
{
    while (s->req_off < cl.request_len) {
        ssize_t n = send(s->fd, cl.request + s->req_off, cl.request_len - s->req_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            stream_fail(s, "write: %s", strerror(errno));
            return;
        }
        s->req_off += (size_t) n;
    }
    s->phase = HEAD;
    watch(s, EPOLL_CTL_MOD, EPOLLIN);
}

static void stream_writable(struct stream *s)
{
    if (s->phase == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            stream_fail(s, "connect: %s", strerror(err));
            return;
        }
        s->phase = SENDING;
        s->sent_ns = s->last_ns = cap_now_ns();
    }
    stream_send(s);
}

/* A new stream: connect, then (on EPOLLOUT, or now if the connect is done) send. */
static void stream_start(void)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->index = cl.started;
    cl.all[cl.started++] = s;
    cl.waiting++;
    cl.open++;
    s->last_ns = cap_now_ns();
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        stream_fail(s, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(s->fd, (struct sockaddr *) &cl.addr, sizeof cl.addr);
    if (rc != 0 && errno != EINPROGRESS) {
        stream_fail(s, "connect: %s", strerror(errno));
        return;
    }
    watch(s, EPOLL_CTL_ADD, EPOLLOUT);
    if (rc == 0) {
        s->phase = SENDING;
        s->sent_ns = s->last_ns = cap_now_ns();
        stream_send(s);
    }
}

static void start_more(void)
{
    while (cl.started < cl.streams && cl.waiting < cl.ramp)
        stream_start();
}

/* Fails every stream that has received nothing for --timeout seconds. */
static void scan_timeouts(int64_t now)
{
    int64_t limit = (int64_t) (cl.timeout_s * 1e9);
    for (int i = 0; i < cl.started; i++) {
        struct stream *s = cl.all[i];
        if (s && now - s->last_ns > limit)
            stream_fail(s, "no bytes for %.0f s (%s)", cl.timeout_s, stage(s));
    }
}

/* Commands on stdin: "snap" asks for the counters; EOF means the caller gave up. */
static void control_readable(void)
{
    char buf[256];
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        report("final", 1, 1);
        exit(0);
    }
    /* Every command is a line "snap"; count the lines. */
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n')
            report("snap", 0, 0);
}

static char *build_request(const char *path, const char *body, size_t *len)
{
    size_t body_len = strlen(body);
    size_t cap = strlen(path) + body_len + 256;
    char *req = malloc(cap);
    if (!req)
        abort();
    int n = snprintf(req, cap,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     path, body_len, body);
    *len = (size_t) n;
    return req;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"streams", required_argument, NULL, 'n'},
                                         {"ramp", required_argument, NULL, 'r'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"path", required_argument, NULL, 'u'},
                                         {"body", required_argument, NULL, 'b'},
                                         {NULL, 0, NULL, 0}};
    int port = 0, opt;
    const char *path = NULL, *body = NULL;
    cl.ramp = 256;
    cl.timeout_s = 60;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'n':
            cl.streams = atoi(optarg);
            break;
        case 'r':
            cl.ramp = atoi(optarg);
            break;
        case 't':
            cl.timeout_s = atof(optarg);
            break;
        case 'u':
            path = optarg;
            break;
        case 'b':
            body = optarg;
            break;
        default:
            port = 0;
            break;
        }
    }
    if (port <= 0 || cl.streams <= 0 || cl.ramp <= 0 || !path || !body) {
        fprintf(stderr,
                "usage: %s --port P --streams N --path PATH --body JSON [--ramp R] "
                "[--timeout S]\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cap_raise_nofile("capacity_client");
    cl.request = build_request(path, body, &cl.request_len);
    cl.addr.sin_family = AF_INET;
    cl.addr.sin_port = htons((uint16_t) port);
    cl.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cl.all = calloc((size_t) cl.streams, sizeof *cl.all);
    cl.first_s = calloc((size_t) cl.streams, sizeof *cl.first_s);
    if (!cl.all || !cl.first_s)
        abort();
    cl.epfd = epoll_create1(EPOLL_CLOEXEC);
    /* The control channel (a pipe from capacity.py); without one (stdin a file) the client
     * just runs to the end. */
    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = STDIN_TAG};
    epoll_ctl(cl.epfd, EPOLL_CTL_ADD, 0, &cev);

    cl.start_ns = cap_now_ns();
    int64_t next_scan = cl.start_ns + 1000000000;
    start_more();
    struct epoll_event evs[256];
    while (cl.started < cl.streams || cl.open > 0) {
        int n = epoll_wait(cl.epfd, evs, 256, cap_timeout_ms(next_scan, cap_now_ns()));
        if (n < 0 && errno != EINTR) {
            perror("capacity_client: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct stream *s = evs[i].data.ptr;
            if (s == STDIN_TAG)
                control_readable();
            else if (s->phase == CONNECTING || s->phase == SENDING)
                stream_writable(s);
            else
                stream_readable(s);
        }
        int64_t now = cap_now_ns();
        if (now >= next_scan) {
            scan_timeouts(now);
            next_scan = now + 1000000000;
        }
        start_more();
        if (!cl.opened_reported && cl.started == cl.streams && cl.waiting == 0) {
            cl.opened_reported = 1;
            report("opened", 1, 0);
        }
    }
    report("final", 1, 0);
    return 0;
}
