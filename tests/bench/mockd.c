/*
 * mockd: the benchmark's mock LLM provider. One thread, epoll, non-blocking sockets, keep-alive,
 * TCP_NODELAY, libc (and OpenSSL for --tls) only. It must never be the bottleneck of a gateway
 * benchmark.
 *
 *   mockd PORT DIR [--tls CERT KEY]   (PORT 0: any free port; the bound port is printed on stdout)
 *
 * With --tls every connection is TLS (CERT: a PEM chain, KEY: its PEM key), through the same
 * loop with non-blocking SSL_read/SSL_write; keep-alive and pipelining work as in plain mode, and
 * the session cache lets a client resume. Plain mode never touches OpenSSL.
 *
 * DIR holds the bodies written by tests/bench/payloads.py; every response is built once at start
 * (status line, headers, body) and answered with one write:
 *
 *   GET  .../anthropic/v1/models    anthropic_models.json
 *   GET  .../models                 openai_models.json
 *   GET  anything else              health.json
 *   POST .../chat/completions       chat.json, or chat_stream.sse when the body says "stream":true
 *   POST .../messages               messages.json, or messages_stream.sse
 *   POST .../responses              responses.json, or responses_stream.sse
 *   POST .../failing/...            503 with an OpenAI error body (a deployment that is down:
 *                                   the failover workload's first target)
 *   GET  /_mockd/stats              {"connections":N,"tls_handshakes":N,"tls_resumed":N,
 *                                   "requests":N}: counts since start (the stats requests
 *                                   themselves not counted), so a harness can tell how often a
 *                                   client reconnected or renegotiated
 *   anything else                   404 not_found.json
 *
 * A .sse file holds SSE events separated by blank lines; each event becomes one HTTP chunk of a
 * Transfer-Encoding: chunked body. Requests may carry a Content-Length or a chunked body, may be
 * pipelined and may arrive in pieces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_REQUEST (8 << 20)
#define READ_SIZE 65536

typedef struct {
    char *data;
    size_t len;
} Buf;

enum {
    R_OPENAI_MODELS, R_ANTHROPIC_MODELS, R_HEALTH, R_CHAT, R_CHAT_STREAM, R_MESSAGES,
    R_MESSAGES_STREAM, R_RESPONSES, R_RESPONSES_STREAM, R_NOT_FOUND, R_BAD_REQUEST, R_FAILING,
    R_COUNT, R_STATS /* built when asked, not from `responses` */
};

static struct {
    unsigned long long connections, handshakes, resumed, requests;
} stats;

static SSL_CTX *tls_ctx; /* NULL: plain TCP */

static Buf responses[R_COUNT];
static const char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";

typedef struct {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off, out_cap;
    char *scratch; /* a decoded chunked request body */
    size_t scratch_cap;
    int continued; /* 100 Continue already sent for the request at the head of `in` */
    int closing;   /* close once `out` is written */
    SSL *ssl;      /* NULL in plain mode */
    int handshaken;
    int events;    /* what epoll waits for (TLS connections) */
} Conn;

static Conn **conns;
static size_t conns_cap;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void *xrealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size);
    if (!p) die("realloc");
    return p;
}

static Buf read_file(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    Buf b = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        if (b.len + 65536 > cap) b.data = xrealloc(b.data, cap = (b.len + 65536) * 2);
        size_t n = fread(b.data + b.len, 1, 65536, f);
        b.len += n;
        if (n == 0) break;
    }
    fclose(f);
    return b;
}

static void append(Buf *b, size_t *cap, const char *data, size_t len) {
    if (b->len + len > *cap) b->data = xrealloc(b->data, *cap = (b->len + len) * 2 + 256);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static Buf json_response(int status, const char *reason, Buf body) {
    Buf r = {NULL, 0};
    size_t cap = 0;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n"
                     "connection: keep-alive\r\n\r\n",
                     status, reason, body.len);
    append(&r, &cap, head, (size_t)n);
    append(&r, &cap, body.data, body.len);
    return r;
}

/* Every event of `body` (separated by blank lines) becomes one chunk. */
static Buf sse_response(Buf body) {
    static const char head[] = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                               "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
                               "connection: keep-alive\r\n\r\n";
    Buf r = {NULL, 0};
    size_t cap = 0;
    append(&r, &cap, head, sizeof head - 1);
    size_t pos = 0;
    while (pos < body.len) {
        char *sep = memmem(body.data + pos, body.len - pos, "\n\n", 2);
        size_t end = sep ? (size_t)(sep - body.data) + 2 : body.len;
        char size[32];
        int n = snprintf(size, sizeof size, "%zx\r\n", end - pos);
        append(&r, &cap, size, (size_t)n);
        append(&r, &cap, body.data + pos, end - pos);
        append(&r, &cap, "\r\n", 2);
        pos = end;
    }
    append(&r, &cap, "0\r\n\r\n", 5);
    return r;
}

static void load(const char *dir) {
    responses[R_OPENAI_MODELS] = json_response(200, "OK", read_file(dir, "openai_models.json"));
    responses[R_ANTHROPIC_MODELS] =
        json_response(200, "OK", read_file(dir, "anthropic_models.json"));
    responses[R_HEALTH] = json_response(200, "OK", read_file(dir, "health.json"));
    responses[R_CHAT] = json_response(200, "OK", read_file(dir, "chat.json"));
    responses[R_CHAT_STREAM] = sse_response(read_file(dir, "chat_stream.sse"));
    responses[R_MESSAGES] = json_response(200, "OK", read_file(dir, "messages.json"));
    responses[R_MESSAGES_STREAM] = sse_response(read_file(dir, "messages_stream.sse"));
    responses[R_RESPONSES] = json_response(200, "OK", read_file(dir, "responses.json"));
    responses[R_RESPONSES_STREAM] = sse_response(read_file(dir, "responses_stream.sse"));
    responses[R_NOT_FOUND] = json_response(404, "Not Found", read_file(dir, "not_found.json"));
    static char bad[] = "{\"error\":{\"message\":\"bad request\",\"type\":\"invalid_request_error\"}}";
    responses[R_BAD_REQUEST] = json_response(400, "Bad Request", (Buf){bad, sizeof bad - 1});
    static char down[] = "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}";
    responses[R_FAILING] =
        json_response(503, "Service Unavailable", (Buf){down, sizeof down - 1});
}

static int ends_with(const char *s, size_t len, const char *suffix) {
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int route(const char *method, size_t mlen, const char *path, size_t plen,
                 const char *body, size_t blen) {
    const char *q = memchr(path, '?', plen);
    if (q) plen = (size_t)(q - path);
    while (plen > 1 && path[plen - 1] == '/') plen--;
    if (mlen == 3 && memcmp(method, "GET", 3) == 0) {
        if (plen == 13 && memcmp(path, "/_mockd/stats", 13) == 0) return R_STATS;
        if (ends_with(path, plen, "/anthropic/v1/models")) return R_ANTHROPIC_MODELS;
        if (ends_with(path, plen, "/models")) return R_OPENAI_MODELS;
        return R_HEALTH;
    }
    if (mlen == 4 && memcmp(method, "POST", 4) == 0) {
        if (memmem(path, plen, "/failing/", 9)) return R_FAILING;
        int stream = body && (memmem(body, blen, "\"stream\":true", 13) ||
                              memmem(body, blen, "\"stream\": true", 14));
        if (ends_with(path, plen, "/chat/completions")) return stream ? R_CHAT_STREAM : R_CHAT;
        if (ends_with(path, plen, "/messages")) return stream ? R_MESSAGES_STREAM : R_MESSAGES;
        if (ends_with(path, plen, "/responses")) return stream ? R_RESPONSES_STREAM : R_RESPONSES;
    }
    return R_NOT_FOUND;
}

static void queue(Conn *c, const char *data, size_t len) {
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + len > c->out_cap) c->out = xrealloc(c->out, c->out_cap = (c->out_len + len) * 2);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static void queue_stats(Conn *c) {
    char body[256], head[256];
    int blen = snprintf(body, sizeof body,
                        "{\"connections\":%llu,\"tls_handshakes\":%llu,\"tls_resumed\":%llu,"
                        "\"requests\":%llu}",
                        stats.connections, stats.handshakes, stats.resumed, stats.requests);
    int hlen = snprintf(head, sizeof head,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        "content-length: %d\r\nconnection: keep-alive\r\n\r\n",
                        blen);
    queue(c, head, (size_t)hlen);
    queue(c, body, (size_t)blen);
}

/* The value of header `name` within [start, end), or NULL; *vlen receives its trimmed length. */
static const char *header(const char *start, const char *end, const char *name, size_t *vlen) {
    size_t nlen = strlen(name);
    const char *line = start;
    while (line < end) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol + 2;
    }
    return NULL;
}

static int has_token(const char *v, size_t vlen, const char *token) {
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= vlen; i++)
        if (strncasecmp(v + i, token, n) == 0) return 1;
    return 0;
}

/*
 * Decode a chunked body starting at `p`. Returns the bytes it spans (through the final CRLF),
 * 0 when more input is needed, -1 when malformed. The payload goes to c->scratch.
 */
static long decode_chunked(Conn *c, const char *p, const char *end, size_t *blen) {
    const char *start = p;
    *blen = 0;
    for (;;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol) return 0;
        if (eol == p || !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                          (*p >= 'A' && *p <= 'F')))
            return -1;
        char *stop;
        unsigned long size = strtoul(p, &stop, 16);
        if (size > MAX_REQUEST) return -1;
        p = eol + 2;
        if (size == 0) { /* trailers end with an empty line */
            for (;;) {
                eol = memmem(p, (size_t)(end - p), "\r\n", 2);
                if (!eol) return 0;
                int empty = eol == p;
                p = eol + 2;
                if (empty) return (long)(p - start);
            }
        }
        if ((size_t)(end - p) < size + 2) return 0;
        if (*blen + size > c->scratch_cap)
            c->scratch = xrealloc(c->scratch, c->scratch_cap = (*blen + size) * 2);
        memcpy(c->scratch + *blen, p, size);
        *blen += size;
        p += size + 2;
    }
}

/* Answer every complete request at the head of c->in; returns -1 to close the connection. */
static int process(Conn *c) {
    size_t pos = 0;
    while (!c->closing) {
        char *start = c->in + pos, *end = c->in + c->in_len;
        while (start + 1 < end && start[0] == '\r' && start[1] == '\n') start += 2, pos += 2;
        char *hend = memmem(start, (size_t)(end - start), "\r\n\r\n", 4);
        if (!hend) {
            if (c->in_len - pos > 65536) return -1;
            break;
        }
        char *eol = memmem(start, (size_t)(hend + 2 - start), "\r\n", 2);
        char *sp1 = memchr(start, ' ', (size_t)(eol - start));
        char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
        if (!sp2) {
            queue(c, responses[R_BAD_REQUEST].data, responses[R_BAD_REQUEST].len);
            c->closing = 1;
            break;
        }
        const char *hstart = eol + 2, *body_start = hend + 4;
        size_t vlen;
        const char *v;
        const char *body = NULL;
        size_t blen = 0, consumed;
        int chunked = (v = header(hstart, hend + 2, "transfer-encoding", &vlen)) &&
                      has_token(v, vlen, "chunked");
        if (chunked) {
            long n = decode_chunked(c, body_start, end, &blen);
            if (n < 0) {
                queue(c, responses[R_BAD_REQUEST].data, responses[R_BAD_REQUEST].len);
                c->closing = 1;
                break;
            }
            if (n == 0) goto incomplete;
            body = c->scratch;
            consumed = (size_t)(body_start - start) + (size_t)n;
        } else {
            if ((v = header(hstart, hend + 2, "content-length", &vlen))) blen = strtoul(v, NULL, 10);
            if (blen > MAX_REQUEST) return -1;
            if ((size_t)(end - body_start) < blen) goto incomplete;
            body = body_start;
            consumed = (size_t)(body_start - start) + blen;
        }
        int idx = route(start, (size_t)(sp1 - start), sp1 + 1, (size_t)(sp2 - sp1 - 1), body, blen);
        if (idx == R_STATS) {
            queue_stats(c);
        } else {
            stats.requests++;
            queue(c, responses[idx].data, responses[idx].len);
        }
        v = header(hstart, hend + 2, "connection", &vlen);
        if ((v && has_token(v, vlen, "close")) || memcmp(sp2 + 1, "HTTP/1.0", 8) == 0)
            c->closing = 1;
        c->continued = 0;
        pos += consumed;
        continue;
    incomplete:
        if (!c->continued && (v = header(hstart, hend + 2, "expect", &vlen)) &&
            has_token(v, vlen, "100-continue")) {
            queue(c, CONTINUE, sizeof CONTINUE - 1);
            c->continued = 1;
        }
        break;
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    return 0;
}

static void close_conn(int epfd, Conn *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        if (c->handshaken) SSL_shutdown(c->ssl); /* close_notify, best effort: never waits */
        SSL_free(c->ssl);
        ERR_clear_error();
    }
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->in);
    free(c->out);
    free(c->scratch);
    free(c);
}

/* Write what is queued; returns -1 on error, 1 when everything is written, 0 otherwise. */
static int flush(Conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    return 1;
}

static void set_events(int epfd, Conn *c, int want_write) {
    struct epoll_event ev = {.events = want_write ? EPOLLOUT : EPOLLIN, .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* TLS: what an SSL_* call that returned `rc` asks for: 0 to wait (epoll set accordingly), -1 to
 * close. */
static int tls_wait(int epfd, Conn *c, int rc) {
    int want;
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ: want = EPOLLIN; break;
    case SSL_ERROR_WANT_WRITE: want = EPOLLOUT; break;
    default: return -1; /* close_notify, a reset, a bad record */
    }
    if (want != c->events) {
        struct epoll_event ev = {.events = (uint32_t)want, .data.fd = c->fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->events = want;
    }
    return 0;
}

/*
 * TLS: one pass over a connection on any event: finish the handshake, write what is queued, then
 * read every record OpenSSL can give (epoll cannot see records OpenSSL already holds) and answer.
 * Like plain mode, nothing is read while answers are waiting to be written. Returns -1 to close.
 */
static int tls_drive(int epfd, Conn *c) {
    if (!c->handshaken) {
        int rc = SSL_do_handshake(c->ssl);
        if (rc != 1) return tls_wait(epfd, c, rc);
        c->handshaken = 1;
        stats.handshakes++;
        if (SSL_session_reused(c->ssl)) stats.resumed++;
    }
    for (;;) {
        while (c->out_off < c->out_len) {
            int n = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
            if (n <= 0) return tls_wait(epfd, c, n);
            c->out_off += (size_t)n;
        }
        c->out_off = c->out_len = 0;
        if (c->closing) return -1;
        if (c->in_cap - c->in_len < READ_SIZE)
            c->in = xrealloc(c->in, c->in_cap = c->in_len + READ_SIZE * 2);
        int n = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
        if (n <= 0) {
            if (c->in_len) { /* answer what arrived before waiting for more */
                if (process(c) < 0) return -1;
                if (c->out_len) continue;
            }
            return tls_wait(epfd, c, n);
        }
        c->in_len += (size_t)n;
        if (c->in_len > MAX_REQUEST + 65536) return -1;
        if (!SSL_pending(c->ssl) && process(c) < 0) return -1;
    }
}

/* Read, answer, write; returns -1 to close. */
static int on_readable(int epfd, Conn *c) {
    if (c->in_cap - c->in_len < READ_SIZE) c->in = xrealloc(c->in, c->in_cap = c->in_len + READ_SIZE * 2);
    ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n == 0) return -1;
    if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    c->in_len += (size_t)n;
    if (c->in_len > MAX_REQUEST + 65536) return -1;
    if (process(c) < 0) return -1;
    int done = flush(c);
    if (done < 0) return -1;
    if (done == 0) set_events(epfd, c, 1); /* stop reading until the answers are out */
    else if (c->closing) return -1;
    return 0;
}

static int on_writable(int epfd, Conn *c) {
    int done = flush(c);
    if (done < 0) return -1;
    if (done == 0) return 0;
    if (c->closing) return -1;
    set_events(epfd, c, 0);
    if (c->in_len) { /* requests that arrived while we were writing */
        if (process(c) < 0) return -1;
        done = flush(c);
        if (done < 0) return -1;
        if (done == 0) set_events(epfd, c, 1);
        else if (c->closing) return -1;
    }
    return 0;
}

static void on_accept(int epfd, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or a transient error: epoll tells us again */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if ((size_t)fd >= conns_cap) {
            size_t cap = (size_t)fd * 2 + 64;
            conns = xrealloc(conns, cap * sizeof *conns);
            memset(conns + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
            conns_cap = cap;
        }
        Conn *c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->fd = fd;
        c->events = EPOLLIN;
        stats.connections++;
        if (tls_ctx) {
            c->ssl = SSL_new(tls_ctx);
            if (!c->ssl || !SSL_set_fd(c->ssl, fd)) die("SSL_new");
            SSL_set_accept_state(c->ssl);
        }
        conns[fd] = c;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) close_conn(epfd, c);
    }
}

static void tls_setup(const char *cert, const char *key) {
    tls_ctx = SSL_CTX_new(TLS_server_method());
    if (!tls_ctx) die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_ctx) != 1) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (!(argc == 3 || (argc == 6 && strcmp(argv[3], "--tls") == 0))) {
        fprintf(stderr, "usage: %s PORT DIR [--tls CERT KEY]\n", argv[0]);
        return 2;
    }
    if (argc == 6) tls_setup(argv[4], argv[5]);
    signal(SIGPIPE, SIG_IGN);
    load(argv[2]);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 4096) < 0) die("listen");
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                on_accept(epfd, lfd);
                continue;
            }
            Conn *c = (size_t)fd < conns_cap ? conns[fd] : NULL;
            if (!c) continue;
            int rc = 0;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) rc = -1;
            else if (c->ssl) rc = tls_drive(epfd, c);
            else if (events[i].events & EPOLLOUT) rc = on_writable(epfd, c);
            else if (events[i].events & EPOLLIN) rc = on_readable(epfd, c);
            if (rc < 0) close_conn(epfd, c);
        }
    }
}
