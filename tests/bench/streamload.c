/*
 * streamload: the long-stream workload's load client. Holds N streaming chat requests open
 * against a gateway in front of pacerd, reads their SSE, and measures each content event's lag
 * (the client's read time minus the "t=<ns>;" stamp pacerd wrote, both CLOCK_MONOTONIC on one
 * machine). Meanwhile it sends a new non-streaming request every PROBE_MS and measures its time
 * to first byte: what a user arriving while N streams are open waits. One thread, epoll, libc.
 *
 *   streamload PORT PATH MODEL N EVENTS SPREAD_MS PROBE_MS DEADLINE_S
 *
 * Stream i starts at i * SPREAD_MS / N (SPREAD_MS 0: all at once). Each asks for EVENTS events
 * (as max_tokens; pacerd sends that many). Probes run from the moment every stream was started
 * and answered (its first byte read, or ended without one) until the first one ends: while all
 * N are open, not while the server still works through the burst of their openings (that shows
 * in each stream's own time to first byte, kept too: a server that accepts slowly shows there,
 * not in the lag of the events). Whatever is still open at DEADLINE_S is counted as timed out.
 * Prints one JSON object on stdout.
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

#define LINE_CAP 8192
#define READ_SIZE 65536

enum { STREAM, PROBE };
enum { CONNECTING, HEAD, BODY };
enum { SIZE_LINE, DATA, DATA_CRLF, FINISHED };

typedef struct {
    int fd, kind, phase;
    int status, chunked, chunk_state, got_byte, done_seen;
    long chunk_left, events, body_left; /* body_left: -1 without a Content-Length */
    uint64_t start;
    char *raw;
    size_t raw_len, raw_cap;
    char line[LINE_CAP];
    size_t line_len;
} Req;

typedef struct {
    double *v;
    size_t n, cap;
} Samples;

static int epfd;
static struct sockaddr_in target;
static char *stream_request, *probe_request;
static size_t stream_request_len, probe_request_len;
static Samples lags, ttfbs, stream_ttfbs;
static long completed, refused, resets, incomplete, before_response, timed_out, non_200;
static long connect_errors, events_total, probes_sent, probes_ok, probes_failed;
static long open_now, started, first_done;
static long streams_answered; /* streams with a first byte, or ended without one */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void add(Samples *s, double value) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    s->v[s->n++] = value;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank, as tests/bench/stats.py. */
static double pct(Samples *s, double p) {
    if (s->n == 0) return 0;
    size_t rank = (size_t)(p / 100 * (double)s->n + 0.999999999);
    if (rank < 1) rank = 1;
    if (rank > s->n) rank = s->n;
    return s->v[rank - 1];
}

static char *build_request(const char *path, const char *body, const char *extra, size_t *len) {
    size_t cap = strlen(path) + strlen(body) + 512;
    char *buf = malloc(cap);
    if (!buf) abort();
    int n = snprintf(buf, cap,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Authorization: Bearer bench\r\n%sContent-Length: %zu\r\n\r\n%s",
                     path, extra, strlen(body), body);
    *len = (size_t)n;
    return buf;
}

static void finish(Req *r) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd, NULL);
    close(r->fd);
    if (r->kind == STREAM) open_now--;
    free(r->raw);
    free(r);
}

/* A stream or probe that ended: count how, then free it. */
static void end_req(Req *r, int reset) {
    if (r->kind == STREAM && !r->got_byte) streams_answered++; /* ended without an answer */
    if (r->kind == PROBE) {
        if (r->status == 200 && !reset && r->phase == BODY && r->body_left <= 0) probes_ok++;
        else probes_failed++;
    } else if (r->done_seen && r->status == 200 && (!r->chunked || r->chunk_state == FINISHED)) {
        completed++;
        if (!first_done) first_done = 1;
    } else if (reset) {
        resets++;
    } else if (!r->got_byte) {
        before_response++;
    } else if (r->status != 200) {
        non_200++;
    } else {
        incomplete++;
    }
    finish(r);
}

static void sse_line(Req *r, uint64_t read_at) {
    r->line[r->line_len] = 0;
    if (strncmp(r->line, "data: ", 6) != 0) return;
    if (strcmp(r->line + 6, "[DONE]") == 0) {
        r->done_seen = 1;
        return;
    }
    char *t = strstr(r->line, "t=");
    if (!t) return;
    unsigned long long stamp = strtoull(t + 2, NULL, 10);
    r->events++;
    events_total++;
    add(&lags, ((double)read_at - (double)stamp) / 1e6);
}

static void sse_feed(Req *r, const char *data, size_t len, uint64_t read_at) {
    for (size_t i = 0; i < len; i++) {
        char ch = data[i];
        if (ch == '\n') {
            sse_line(r, read_at);
            r->line_len = 0;
        } else if (ch != '\r' && r->line_len < LINE_CAP - 1) {
            r->line[r->line_len++] = ch;
        }
    }
}

/* Consume what is buffered; returns 1 when the response is complete. */
static int parse(Req *r, uint64_t read_at) {
    size_t off = 0;
    if (r->phase == HEAD) {
        char *end = memmem(r->raw, r->raw_len, "\r\n\r\n", 4);
        if (!end) return 0;
        *end = 0;
        r->status = r->raw_len > 12 ? atoi(r->raw + 9) : 0;
        r->body_left = -1;
        for (char *p = r->raw; (p = strchr(p, '\n')) != NULL; p++) {
            if (strncasecmp(p + 1, "transfer-encoding:", 18) == 0 && strcasestr(p, "chunked"))
                r->chunked = 1;
            if (strncasecmp(p + 1, "content-length:", 15) == 0)
                r->body_left = strtol(p + 16, NULL, 10);
        }
        off = (size_t)(end - r->raw) + 4;
        r->phase = BODY;
    }
    if (!r->chunked && r->body_left >= 0) { /* a JSON answer (a probe, or an error) */
        long have = (long)(r->raw_len - off);
        r->body_left -= have < r->body_left ? have : r->body_left;
        r->raw_len = 0;
        return r->body_left == 0;
    }
    while (off < r->raw_len) {
        if (!r->chunked) {
            sse_feed(r, r->raw + off, r->raw_len - off, read_at);
            off = r->raw_len;
        } else if (r->chunk_state == SIZE_LINE) {
            char *nl = memmem(r->raw + off, r->raw_len - off, "\r\n", 2);
            if (!nl) break;
            r->chunk_left = strtol(r->raw + off, NULL, 16);
            off = (size_t)(nl - r->raw) + 2;
            r->chunk_state = r->chunk_left == 0 ? FINISHED : DATA;
        } else if (r->chunk_state == DATA) {
            size_t take = r->raw_len - off;
            if ((long)take > r->chunk_left) take = (size_t)r->chunk_left;
            sse_feed(r, r->raw + off, take, read_at);
            off += take;
            r->chunk_left -= (long)take;
            if (r->chunk_left == 0) r->chunk_state = DATA_CRLF;
        } else if (r->chunk_state == DATA_CRLF) {
            if (r->raw_len - off < 2) break;
            off += 2;
            r->chunk_state = SIZE_LINE;
        } else {
            off = r->raw_len; /* trailers after the last chunk: ignored */
        }
    }
    memmove(r->raw, r->raw + off, r->raw_len - off);
    r->raw_len -= off;
    return r->chunked && r->chunk_state == FINISHED;
}

static void on_readable(Req *r) {
    for (;;) {
        if (r->raw_cap - r->raw_len < READ_SIZE / 4) {
            size_t cap = r->raw_cap ? r->raw_cap * 2 : READ_SIZE / 2;
            r->raw = realloc(r->raw, cap);
            if (!r->raw) abort();
            r->raw_cap = cap;
        }
        ssize_t n = read(r->fd, r->raw + r->raw_len, r->raw_cap - r->raw_len);
        if (n > 0) {
            uint64_t at = now_ns();
            if (!r->got_byte) {
                r->got_byte = 1;
                add(r->kind == PROBE ? &ttfbs : &stream_ttfbs, ((double)at - (double)r->start) / 1e6);
                if (r->kind == STREAM) streams_answered++;
            }
            r->raw_len += (size_t)n;
            if (parse(r, at)) {
                end_req(r, 0);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        end_req(r, n < 0 && (errno == ECONNRESET || errno == EPIPE));
        return;
    }
}

static void on_connected(Req *r) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        if (r->kind == PROBE) probes_failed++;
        else if (err == ECONNREFUSED) refused++;
        else if (err == ECONNRESET) resets++;
        else connect_errors++;
        finish(r);
        return;
    }
    const char *req = r->kind == STREAM ? stream_request : probe_request;
    size_t req_len = r->kind == STREAM ? stream_request_len : probe_request_len;
    ssize_t n = write(r->fd, req, req_len); /* a few hundred bytes: one write on loopback */
    if (n != (ssize_t)req_len) {
        end_req(r, 1);
        return;
    }
    r->phase = HEAD;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = r};
    epoll_ctl(epfd, EPOLL_CTL_MOD, r->fd, &ev);
}

static void open_req(int kind) {
    Req *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->kind = kind;
    r->start = now_ns();
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (r->fd < 0) {
        connect_errors++;
        if (kind == STREAM) streams_answered++;
        free(r);
        return;
    }
    int one = 1;
    setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (kind == STREAM) open_now++;
    else probes_sent++;
    if (connect(r->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        if (kind == PROBE) probes_failed++;
        else if (errno == ECONNREFUSED) refused++;
        else connect_errors++;
        close(r->fd);
        if (kind == STREAM) open_now--, streams_answered++;
        free(r);
        return;
    }
    r->phase = CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = r};
    epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd, &ev);
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void print_samples(const char *name, Samples *s) {
    qsort(s->v, s->n, sizeof *s->v, cmp);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) sum += s->v[i];
    printf("\"%s\":{\"count\":%zu,\"p50\":%.4f,\"p99\":%.4f,\"max\":%.4f,\"mean\":%.4f}", name,
           s->n, pct(s, 50), pct(s, 99), s->n ? s->v[s->n - 1] : 0.0,
           s->n ? sum / (double)s->n : 0.0);
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: streamload PORT PATH MODEL N EVENTS SPREAD_MS PROBE_MS DEADLINE_S\n");
        return 2;
    }
    const char *path = argv[2], *model = argv[3];
    long n = strtol(argv[4], NULL, 10), events = strtol(argv[5], NULL, 10);
    double spread_ms = strtod(argv[6], NULL), probe_ms = strtod(argv[7], NULL);
    double deadline_s = strtod(argv[8], NULL);
    if (n < 1 || events < 1 || strlen(model) > 200) {
        fprintf(stderr, "streamload: bad arguments\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[1]));
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"stream\":true,\"max_tokens\":%ld,\"stream_options\":"
             "{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a "
             "long story.\"}]}",
             model, events);
    stream_request = build_request(path, body, "", &stream_request_len);
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":"
             "\"Hi.\"}]}",
             model);
    probe_request = build_request(path, body, "Connection: close\r\n", &probe_request_len);
    epfd = epoll_create1(0);
    uint64_t t0 = now_ns(), step = spread_ms > 0 ? (uint64_t)(spread_ms * 1e6 / (double)n) : 0;
    uint64_t deadline = t0 + (uint64_t)(deadline_s * 1e9), next_probe = 0;
    uint64_t probe_step = (uint64_t)(probe_ms * 1e6);
    struct epoll_event evs[1024];
    for (;;) {
        uint64_t now = now_ns();
        while (started < n && t0 + (uint64_t)started * step <= now) {
            open_req(STREAM);
            started++;
        }
        if (started == n && streams_answered >= n && next_probe == 0) next_probe = now;
        if (next_probe && !first_done && probe_step && now >= next_probe) {
            open_req(PROBE);
            next_probe += probe_step;
            if (next_probe < now) next_probe = now + probe_step;
        }
        if (started == n && open_now == 0 && (probes_ok + probes_failed) >= probes_sent) break;
        if (now >= deadline) break;
        uint64_t wake = deadline;
        if (started < n && t0 + (uint64_t)started * step < wake) wake = t0 + (uint64_t)started * step;
        if (next_probe && !first_done && next_probe < wake) wake = next_probe;
        int timeout = wake <= now ? 0 : (int)((wake - now + 999999) / 1000000);
        int got = epoll_wait(epfd, evs, 1024, timeout);
        for (int i = 0; i < got; i++) {
            Req *r = evs[i].data.ptr;
            if (r->phase == CONNECTING) on_connected(r);
            else on_readable(r);
        }
    }
    timed_out = open_now;
    uint64_t end = now_ns();
    printf("{\"streams\":%ld,\"events_per_stream\":%ld,\"started\":%ld,\"completed\":%ld,"
           "\"refused\":%ld,\"reset\":%ld,\"incomplete\":%ld,\"closed_before_response\":%ld,"
           "\"non_200\":%ld,\"connect_errors\":%ld,\"timed_out\":%ld,\"events\":%ld,"
           "\"probes_sent\":%ld,\"probes_ok\":%ld,\"probes_failed\":%ld,\"wall_s\":%.3f,",
           n, events, started, completed, refused, resets, incomplete, before_response, non_200,
           connect_errors, timed_out, events_total, probes_sent, probes_ok, probes_failed,
           (double)(end - t0) / 1e9);
    print_samples("lag_ms", &lags);
    printf(",");
    print_samples("probe_ttfb_ms", &ttfbs);
    printf(",");
    print_samples("stream_ttfb_ms", &stream_ttfbs);
    printf("}\n");
    return 0;
}
