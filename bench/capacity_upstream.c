/* The upstream of bench/capacity.py: holds thousands of OpenAI chat streams open cheaply, so
 * the machine's CPU goes to the gateway under test and not to the load.
 *
 *   capacity_upstream --interval 5 --events 7 [--port 0]
 *
 * One thread, epoll, non-blocking sockets. Each connection's request is read (the head, then
 * a Content-Length body, discarded), and answered with a 200 text/event-stream in chunked
 * framing: at once a role event and the first content event, which carries CAPACITY_MARKER;
 * then one content event every --interval seconds, --events of them; then a finish event,
 * [DONE], the last chunk, and the connection is closed. Prints "port N" on stdout once it
 * listens (--port 0, the default, takes a free port), then runs until it is killed.
 *
 * Every stream waits the same interval, so a stream that has just sent an event is always
 * due after every stream already waiting: the timers are one FIFO list (append at the tail,
 * fire from the head), no heap or wheel needed. */
#include "capacity.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX 65536

enum conn_state { READ_HEAD, READ_BODY, STREAMING };

struct conn {
    int fd;
    enum conn_state state;
    char *head; /* the request head until it is complete */
    size_t head_len, head_cap;
    long long body_left;
    int events_left;
    int64_t due_ns;
    struct conn *prev, *next; /* in the timer list while STREAMING with events left */
    char *out;                /* bytes the socket did not take yet */
    size_t out_len, out_cap;
    int finished; /* everything written once out drains: close */
};

static struct {
    int epfd;
    double interval;
    int events;
    struct conn *due_head, *due_tail;
    /* The three answers every stream is made of, built once. */
    char *opening, *more, *ending;
    size_t opening_len, more_len, ending_len;
} up;

/* "data: JSON\n\n" as one HTTP chunk, appended to a malloc'd buffer. */
static void append_event(char **buf, size_t *len, const char *data)
{
    char event[512], framed[600];
    int n = snprintf(event, sizeof event, "data: %s\n\n", data);
    int m = snprintf(framed, sizeof framed, "%x\r\n%s\r\n", (unsigned) n, event);
    *buf = realloc(*buf, *len + (size_t) m + 1);
    if (!*buf)
        abort();
    memcpy(*buf + *len, framed, (size_t) m + 1);
    *len += (size_t) m;
}

static void append_chunk(char **buf, size_t *len, const char *delta, const char *finish)
{
    char data[400];
    snprintf(data, sizeof data,
             "{\"id\":\"chatcmpl-cap\",\"object\":\"chat.completion.chunk\",\"created\":1,"
             "\"model\":\"cap\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}",
             delta, finish);
    append_event(buf, len, data);
}

static void build_answers(void)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    up.opening = strdup(head);
    up.opening_len = sizeof head - 1;
    append_chunk(&up.opening, &up.opening_len, "{\"role\":\"assistant\",\"content\":\"\"}", "null");
    append_chunk(&up.opening, &up.opening_len, "{\"content\":\"" CAPACITY_MARKER "\"}", "null");
    append_chunk(&up.more, &up.more_len, "{\"content\":\" more\"}", "null");
    append_chunk(&up.ending, &up.ending_len, "{}", "\"stop\"");
    append_event(&up.ending, &up.ending_len, "[DONE]");
    up.ending = realloc(up.ending, up.ending_len + 6);
    memcpy(up.ending + up.ending_len, "0\r\n\r\n", 6);
    up.ending_len += 5;
}

static void due_unlink(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (up.due_head == c)
        up.due_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else if (up.due_tail == c)
        up.due_tail = c->prev;
    c->prev = c->next = NULL;
}

static void due_append(struct conn *c, int64_t now)
{
    c->due_ns = now + (int64_t) (up.interval * 1e9);
    c->prev = up.due_tail;
    c->next = NULL;
    if (up.due_tail)
        up.due_tail->next = c;
    else
        up.due_head = c;
    up.due_tail = c;
}

static void conn_close(struct conn *c)
{
    due_unlink(c);
    close(c->fd); /* also leaves the epoll set */
    free(c->head);
    free(c->out);
    free(c);
}

static void watch(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(up.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what the socket takes now and keeps the rest for EPOLLOUT. Returns -1 when the
 * connection is gone (closed here). */
static int conn_send(struct conn *c, const char *buf, size_t len)
{
    if (c->out_len == 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            conn_close(c);
            return -1;
        }
        if (n > 0) {
            buf += n;
            len -= (size_t) n;
        }
        if (len == 0)
            return 0;
        watch(c, EPOLLIN | EPOLLOUT);
    }
    if (c->out_len + len > c->out_cap) {
        c->out_cap = (c->out_len + len) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            abort();
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return 0;
}

/* The last bytes are queued: close now, or once the socket has taken them. */
static void conn_finish(struct conn *c)
{
    due_unlink(c);
    if (c->out_len == 0)
        conn_close(c);
    else
        c->finished = 1;
}

static void conn_flush(struct conn *c)
{
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(c);
        return;
    }
    memmove(c->out, c->out + n, c->out_len - (size_t) n);
    c->out_len -= (size_t) n;
    if (c->out_len > 0)
        return;
    if (c->finished)
        conn_close(c);
    else
        watch(c, EPOLLIN);
}

static void start_stream(struct conn *c, int64_t now)
{
    free(c->head);
    c->head = NULL;
    c->state = STREAMING;
    c->events_left = up.events;
    if (conn_send(c, up.opening, up.opening_len) < 0)
        return;
    if (c->events_left > 0)
        due_append(c, now);
    else if (conn_send(c, up.ending, up.ending_len) == 0)
        conn_finish(c);
}

/* The body length the head announces (0 without one). */
static long long content_length(const char *head)
{
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            return strtoll(line + 17, NULL, 10);
    return 0;
}

/* Bytes from the gateway: the request head and body, then nothing (read and dropped). */
static void conn_input(struct conn *c, const char *buf, size_t len, int64_t now)
{
    if (c->state == READ_HEAD) {
        size_t from = c->head_len > 3 ? c->head_len - 3 : 0;
        if (c->head_len + len + 1 > c->head_cap) {
            c->head_cap = (c->head_len + len + 1) * 2;
            c->head = realloc(c->head, c->head_cap);
            if (!c->head)
                abort();
        }
        memcpy(c->head + c->head_len, buf, len);
        c->head_len += len;
        c->head[c->head_len] = '\0';
        char *end = strstr(c->head + from, "\r\n\r\n");
        if (!end) {
            if (c->head_len > HEAD_MAX)
                conn_close(c);
            return;
        }
        *end = '\0';
        size_t body_seen = c->head_len - (size_t) (end + 4 - c->head);
        c->body_left = content_length(c->head) - (long long) body_seen;
        c->state = READ_BODY;
    } else if (c->state == READ_BODY) {
        c->body_left -= (long long) len;
    }
    if (c->state == READ_BODY && c->body_left <= 0)
        start_stream(c, now);
}

/* One read per wake-up (level-triggered: the rest comes with the next one). */
static void conn_readable(struct conn *c, int64_t now)
{
    char buf[16384];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n > 0)
        conn_input(c, buf, (size_t) n, now);
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        conn_close(c); /* the gateway closed or reset it */
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            /* Out of descriptors: the run is misconfigured, say so rather than spin. */
            perror("capacity_upstream: accept");
            exit(1);
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
            abort();
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(up.epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

static void fire_due(int64_t now)
{
    while (up.due_head && up.due_head->due_ns <= now) {
        struct conn *c = up.due_head;
        due_unlink(c);
        if (conn_send(c, up.more, up.more_len) < 0)
            continue;
        if (--c->events_left > 0)
            due_append(c, now);
        else if (conn_send(c, up.ending, up.ending_len) == 0)
            conn_finish(c);
    }
}

static int listen_on(int port)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t salen = sizeof sa;
    if (bind(lfd, (struct sockaddr *) &sa, sizeof sa) != 0 || listen(lfd, 65535) != 0 ||
        getsockname(lfd, (struct sockaddr *) &sa, &salen) != 0) {
        perror("capacity_upstream: listen");
        exit(1);
    }
    printf("port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    return lfd;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"events", required_argument, NULL, 'e'},
                                         {NULL, 0, NULL, 0}};
    int port = 0, opt;
    up.interval = 5.0;
    up.events = 10;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'i':
            up.interval = atof(optarg);
            break;
        case 'e':
            up.events = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: %s --interval S --events N [--port P]\n", argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    /* Never outlive capacity.py, however it ends (the client ends with its stdin). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    cap_raise_nofile("capacity_upstream");
    build_answers();
    up.epfd = epoll_create1(EPOLL_CLOEXEC);
    int lfd = listen_on(port);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(up.epfd, EPOLL_CTL_ADD, lfd, &lev);

    struct epoll_event evs[256];
    for (;;) {
        int64_t now = cap_now_ns();
        int n = epoll_wait(up.epfd, evs, 256,
                           cap_timeout_ms(up.due_head ? up.due_head->due_ns : -1, now));
        if (n < 0 && errno != EINTR) {
            perror("capacity_upstream: epoll_wait");
            return 1;
        }
        now = cap_now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c)
                accept_all(lfd);
            else if (evs[i].events & EPOLLOUT)
                conn_flush(c);
            else
                conn_readable(c, now);
        }
        fire_due(now);
    }
}
