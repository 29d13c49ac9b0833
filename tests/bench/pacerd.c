/*
 * pacerd: the long-stream workload's mock provider. Where mockd answers as fast as it can, pacerd
 * answers at the pace of a real model: one content event per interval, for many connections at
 * once, so a gateway can be measured holding thousands of slow streams open. One thread, epoll,
 * non-blocking sockets, keep-alive, a min-heap of per-connection timers, libc only.
 *
 *   pacerd PORT EVENTS INTERVAL_MS      (PORT 0: any free port; the bound port is printed)
 *
 *   GET  .../anthropic/v1/models     an Anthropic model list (claude-sonnet-4-5)
 *   GET  .../models                  an OpenAI model list (gpt-4o-mini)
 *   GET  anything else               {"status":"ok"}
 *   POST .../chat/completions        "stream":true: OpenAI SSE, chunked: a role chunk at once,
 *                                    then EVENTS content events (a request's "max_tokens"
 *                                    overrides EVENTS) one every INTERVAL_MS, a finish chunk, a
 *                                    usage chunk and data: [DONE]. Otherwise one JSON completion
 *                                    at once.
 *   anything else                    404
 *
 * Every content text is "t=<ns>;": CLOCK_MONOTONIC when the event was written. The load client
 * (streamload.c) runs on the same machine and reads the same clock, so its read time minus the
 * stamp is the event's lag through the gateway. Requests carry a Content-Length body; a stream
 * ends early when its client leaves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (1 << 20)
#define READ_SIZE 65536
#define MAX_EVENTS_PER_STREAM 1000000

typedef struct {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off, out_cap;
    int streaming;    /* a stream is in progress: further requests wait */
    long left;        /* content events still to send */
    long sent;        /* content events sent */
    uint64_t due;     /* when the next one is due (ns) */
    long heap_pos;    /* index in the timer heap, -1 when not scheduled */
    int want_out;     /* EPOLLOUT registered */
} Conn;

static int epfd;
static long default_events;
static uint64_t interval_ns;
static Conn **heap;
static long heap_n, heap_cap;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the timer heap: the connection due first on top ---- */

static void heap_set(long i, Conn *c) {
    heap[i] = c;
    c->heap_pos = i;
}

static void heap_up(long i) {
    Conn *c = heap[i];
    while (i > 0) {
        long parent = (i - 1) / 2;
        if (heap[parent]->due <= c->due) break;
        heap_set(i, heap[parent]);
        i = parent;
    }
    heap_set(i, c);
}

static void heap_down(long i) {
    Conn *c = heap[i];
    for (;;) {
        long child = 2 * i + 1;
        if (child >= heap_n) break;
        if (child + 1 < heap_n && heap[child + 1]->due < heap[child]->due) child++;
        if (heap[child]->due >= c->due) break;
        heap_set(i, heap[child]);
        i = child;
    }
    heap_set(i, c);
}

static void heap_push(Conn *c) {
    if (heap_n == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        heap = realloc(heap, (size_t)heap_cap * sizeof *heap);
        if (!heap) abort();
    }
    heap_set(heap_n++, c);
    heap_up(heap_n - 1);
}

static void heap_remove(Conn *c) {
    long i = c->heap_pos;
    if (i < 0) return;
    c->heap_pos = -1;
    Conn *last = heap[--heap_n];
    if (i == heap_n) return;
    heap_set(i, last);
    heap_up(i);
    heap_down(last->heap_pos);
}

/* ---- connections ---- */

static void conn_close(Conn *c) {
    heap_remove(c);
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void watch(Conn *c, int out) {
    if (c->want_out == out) return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

/* Write what is queued; 0 on success (maybe partly queued), -1 when the peer is gone. */
static int flush(Conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, 1);
            return 0;
        } else {
            return -1;
        }
    }
    c->out_off = c->out_len = 0;
    watch(c, 0);
    return 0;
}

static void queue(Conn *c, const char *data, size_t len) {
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len) cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out) abort();
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

/* One SSE event as one HTTP chunk. */
static void queue_event(Conn *c, const char *data, size_t len) {
    char head[32];
    int n = snprintf(head, sizeof head, "%zx\r\n", len + 8);
    queue(c, head, (size_t)n);
    queue(c, "data: ", 6);
    queue(c, data, len);
    queue(c, "\n\n\r\n", 4);
}

static const char CHUNK_HEAD[] =
    "{\"id\":\"chatcmpl-pacer\",\"object\":\"chat.completion.chunk\",\"created\":1,"
    "\"model\":\"gpt-4o-mini\",\"system_fingerprint\":null,\"choices\":";

static void queue_chunk(Conn *c, const char *choices_and_rest) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s%s", CHUNK_HEAD, choices_and_rest);
    queue_event(c, buf, (size_t)n);
}

static void content_event(Conn *c, uint64_t stamp) {
    char rest[160];
    snprintf(rest, sizeof rest,
             "[{\"index\":0,\"delta\":{\"content\":\"t=%llu;\"},\"logprobs\":null,"
             "\"finish_reason\":null}]}",
             (unsigned long long)stamp);
    queue_chunk(c, rest);
}

static void end_stream(Conn *c) {
    char rest[256];
    queue_chunk(c, "[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}");
    snprintf(rest, sizeof rest,
             "[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":%ld,\"total_tokens\":%ld}}",
             c->sent, c->sent + 12);
    queue_chunk(c, rest);
    queue_event(c, "[DONE]", 6);
    queue(c, "0\r\n\r\n", 5);
    c->streaming = 0;
}

static void respond(Conn *c, int status, const char *reason, const char *type, const char *body) {
    char head[256];
    size_t len = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: keep-alive\r\n\r\n",
                     status, reason, type, len);
    queue(c, head, (size_t)n);
    queue(c, body, len);
}

static const char OPENAI_MODELS[] =
    "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":1,"
    "\"owned_by\":\"openai\"}]}";
static const char ANTHROPIC_MODELS[] =
    "{\"data\":[{\"type\":\"model\",\"id\":\"claude-sonnet-4-5\",\"display_name\":\"Claude "
    "Sonnet 4.5\",\"created_at\":\"2025-09-29T00:00:00Z\"}],\"has_more\":false,"
    "\"first_id\":\"claude-sonnet-4-5\",\"last_id\":\"claude-sonnet-4-5\"}";
static const char NOT_FOUND[] =
    "{\"error\":{\"message\":\"not found\",\"type\":\"invalid_request_error\",\"param\":null,"
    "\"code\":\"not_found\"}}";

/* The value after "name" : in a JSON body, or NULL (a plain scan: our own clients' bodies). */
static const char *json_value(const char *body, size_t len, const char *name) {
    size_t nlen = strlen(name);
    for (const char *p = body; p && (size_t)(p - body) + nlen < len;) {
        p = memmem(p, len - (size_t)(p - body), name, nlen);
        if (!p) return NULL;
        const char *v = p + nlen;
        const char *end = body + len;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        if (v < end && *v == ':') {
            v++;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            return v < end ? v : NULL;
        }
        p = v;
    }
    return NULL;
}

static void start_chat(Conn *c, const char *body, size_t len) {
    const char *stream = json_value(body, len, "\"stream\"");
    int streaming = stream && (size_t)(body + len - stream) >= 4 && memcmp(stream, "true", 4) == 0;
    long events = default_events;
    const char *max = json_value(body, len, "\"max_tokens\"");
    if (!max) max = json_value(body, len, "\"max_completion_tokens\"");
    if (max && *max >= '0' && *max <= '9') {
        events = strtol(max, NULL, 10);
        if (events > MAX_EVENTS_PER_STREAM) events = MAX_EVENTS_PER_STREAM;
    }
    if (!streaming) {
        char doc[512];
        snprintf(doc, sizeof doc,
                 "{\"id\":\"chatcmpl-pacer\",\"object\":\"chat.completion\",\"created\":1,"
                 "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                 "\"assistant\",\"content\":\"t=%llu;\"},\"logprobs\":null,\"finish_reason\":"
                 "\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":1,"
                 "\"total_tokens\":13}}",
                 (unsigned long long)now_ns());
        respond(c, 200, "OK", "application/json", doc);
        return;
    }
    static const char HEAD[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
    queue(c, HEAD, sizeof HEAD - 1);
    queue_chunk(c, "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                   "\"logprobs\":null,\"finish_reason\":null}]}");
    c->streaming = 1;
    c->left = events;
    c->sent = 0;
    if (events == 0) {
        end_stream(c);
        return;
    }
    c->due = now_ns() + interval_ns;
    heap_push(c);
}

static int ends_with(const char *s, size_t len, const char *suffix) {
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Answer every complete request in the buffer (none while a stream runs); -1: close. */
static int handle_requests(Conn *c) {
    while (!c->streaming && c->in_len > 0) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end) return c->in_len > MAX_REQUEST ? -1 : 0;
        size_t head_len = (size_t)(end - c->in) + 4;
        size_t body_len = 0;
        for (char *line = memchr(c->in, '\n', head_len); line && line < end;
             line = memchr(line + 1, '\n', (size_t)(end - line))) {
            if (strncasecmp(line + 1, "content-length:", 15) == 0)
                body_len = strtoul(line + 16, NULL, 10);
        }
        if (body_len > MAX_REQUEST) return -1;
        if (c->in_len < head_len + body_len) return 0;
        char *sp1 = memchr(c->in, ' ', head_len);
        char *sp2 = sp1 ? memchr(sp1 + 1, ' ', head_len - (size_t)(sp1 + 1 - c->in)) : NULL;
        if (!sp1 || !sp2) return -1;
        char *path = sp1 + 1;
        size_t plen = (size_t)(sp2 - path);
        char *q = memchr(path, '?', plen);
        if (q) plen = (size_t)(q - path);
        int is_get = sp1 - c->in == 3 && memcmp(c->in, "GET", 3) == 0;
        int is_post = sp1 - c->in == 4 && memcmp(c->in, "POST", 4) == 0;
        const char *body = c->in + head_len;
        if (is_get && ends_with(path, plen, "/anthropic/v1/models"))
            respond(c, 200, "OK", "application/json", ANTHROPIC_MODELS);
        else if (is_get && ends_with(path, plen, "/models"))
            respond(c, 200, "OK", "application/json", OPENAI_MODELS);
        else if (is_get)
            respond(c, 200, "OK", "application/json", "{\"status\":\"ok\"}");
        else if (is_post && ends_with(path, plen, "/chat/completions"))
            start_chat(c, body, body_len);
        else
            respond(c, 404, "Not Found", "application/json", NOT_FOUND);
        size_t used = head_len + body_len;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    return 0;
}

static void on_readable(Conn *c) {
    for (;;) {
        if (c->in_cap - c->in_len < READ_SIZE) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_SIZE * 2;
            c->in = realloc(c->in, cap);
            if (!c->in) abort();
            c->in_cap = cap;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            if (c->in_len > MAX_REQUEST + 65536) break;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        conn_close(c); /* EOF or error: the client left, its stream ends here */
        return;
    }
    if (handle_requests(c) < 0 || flush(c) < 0) conn_close(c);
}

static void on_timer(Conn *c, uint64_t now) {
    content_event(c, now_ns()); /* the stamp is the write time, not the batch's start */
    c->sent++;
    if (--c->left > 0) {
        c->due += interval_ns;
        if (c->due < now) c->due = now; /* fell behind: no burst to catch up */
        heap_push(c);
    } else {
        end_stream(c);
        if (handle_requests(c) < 0) {
            conn_close(c);
            return;
        }
    }
    if (flush(c) < 0) conn_close(c);
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: pacerd PORT EVENTS INTERVAL_MS\n");
        return 2;
    }
    default_events = strtol(argv[2], NULL, 10);
    interval_ns = (uint64_t)(strtod(argv[3], NULL) * 1e6);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 65535) < 0) {
        perror("pacerd: bind/listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    epfd = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event events[1024];
    for (;;) {
        int timeout = -1;
        if (heap_n > 0) {
            uint64_t now = now_ns(), due = heap[0]->due;
            timeout = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
        }
        int n = epoll_wait(epfd, events, 1024, timeout);
        if (n < 0 && errno != EINTR) {
            perror("pacerd: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            Conn *c = events[i].data.ptr;
            if (c == NULL) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    Conn *nc = calloc(1, sizeof *nc);
                    if (!nc) abort();
                    nc->fd = fd;
                    nc->heap_pos = -1;
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                if (flush(c) < 0) {
                    conn_close(c);
                    continue;
                }
            }
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
        uint64_t now = now_ns();
        while (heap_n > 0 && heap[0]->due <= now) {
            Conn *c = heap[0];
            heap_remove(c);
            on_timer(c, now);
        }
    }
}
