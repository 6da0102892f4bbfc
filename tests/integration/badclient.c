/* SPDX-License-Identifier: MIT */
/* badclient: client connections that misbehave, for tests/integration's
 * bad_clients test. Plain blocking sockets; valid frames come from libcoord's
 * codec (coord/client/codec.h), so that the bytes match the real protocol.
 * Each mode reports what the node did on stdout; the test then checks that
 * the node still serves everyone else. Not a fuzzer (tests/fuzz is). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord/client/codec.h"
#include "coord/frame.h"
#include "raft/base/alloc.h"

#define CLOSE_WAIT_MS   5000u /* how long a refused connection may stay open */
#define GARBAGE_LEN     4092u /* body bytes of the garbage frame */
#define NOISE_LEN       (64u << 10)
#define OVERSIZED_SEND  (64u << 10) /* body bytes sent after an oversized header */
#define SLOW_MAX_REQS   2000000u    /* requests the slow client sends at most */
#define SLOW_BLOCKED_MS 1000u       /* no send progress this long: the node stopped reading */
#define SLOW_FILL_MS    20000u      /* phase 1 (sending) lasts at most this long */
#define SLOW_POLL_MS    100u        /* phase 2 (holding): checks of the socket and stop file */
#define SLOW_RCVBUF     4096        /* our receive buffer: the node's answers back up soon */

static void usage(void)
{
    (void)fprintf(
        stderr,
        "usage: badclient garbage HOST:PORT    a frame of random bytes, then raw noise\n"
        "       badclient truncated HOST:PORT  frames cut short, then closed\n"
        "       badclient oversized HOST:PORT MAX  frames announcing > MAX bytes\n"
        "       badclient slow HOST:PORT --key KEY --ready FILE --stop FILE [--max-ms MS]\n"
        "               pipelines gets of KEY and never reads; holds the connection\n"
        "               from when the node stops reading until FILE exists\n"
        "Exit 0 when the node behaved as documented (refused input closes the\n"
        "connection within %u ms), 1 otherwise, 2 on usage or setup errors.\n",
        CLOSE_WAIT_MS);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A fixed-seed xorshift: the same garbage on every run. */
static void fill_random(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1u;
    size_t i;

    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)(x >> 32);
    }
}

/* A connected socket to "host:port" (rcvbuf > 0: set before connecting), or -1. */
static int dial(const char *addr, int rcvbuf)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int fd = -1;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
        (void)fprintf(stderr, "badclient: '%s' is not host:port\n", addr);
        return -1;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        (void)fprintf(stderr, "badclient: cannot resolve '%s'\n", addr);
        return -1;
    }
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0 && rcvbuf > 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        (void)fprintf(stderr, "badclient: connect %s: %s\n", addr, strerror(errno));
        (void)close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Send all of buf; a failure (the node closed first) is reported, not fatal. */
static bool send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            (void)printf("  send stopped: %s\n", n < 0 ? strerror(errno) : "0 bytes");
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Read (and drop) until the node closes the connection or CLOSE_WAIT_MS pass.
 * Returns true when it closed. */
static bool wait_closed(int fd, const char *what)
{
    uint64_t start = now_ms();
    size_t got = 0;
    uint8_t buf[4096];

    for (;;) {
        uint64_t spent = now_ms() - start;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (spent >= CLOSE_WAIT_MS) {
            (void)printf("%s: still open after %u ms (%zu answer bytes)\n", what, CLOSE_WAIT_MS,
                         got);
            return false;
        }
        if (poll(&p, 1, (int)(CLOSE_WAIT_MS - spent)) <= 0) {
            continue;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        (void)printf("%s: closed by the node after %llu ms (%zu answer bytes, %s)\n", what,
                     (unsigned long long)(now_ms() - start), got, n == 0 ? "EOF" : strerror(errno));
        return true;
    }
}

/* One whole frame of d into a raft_malloc'ed *buf; returns its length, 0 on failure. */
static size_t encode(const struct coord_client_req_desc *d, uint8_t **buf)
{
    size_t cap = 0;
    size_t len = 0;

    *buf = NULL;
    if (coord_client_codec_encode(d, buf, &cap, &len) != 0) {
        (void)fprintf(stderr, "badclient: out of memory\n");
        return 0;
    }
    return len;
}

/* A frame of GARBAGE_LEN random bytes (the node must refuse it), then on a
 * second connection raw noise whose first bytes announce some length. */
static int mode_garbage(const char *addr)
{
    uint8_t *buf = raft_malloc(NOISE_LEN);
    bool closed_frame = false;
    bool closed_noise = false;
    int fd;

    if (buf == NULL) {
        return 2;
    }
    fd = dial(addr, 0);
    if (fd >= 0) {
        coord_frame_header_encode(buf, GARBAGE_LEN);
        fill_random(buf + COORD_FRAME_HEADER_LEN, GARBAGE_LEN, 0x5eed);
        (void)send_all(fd, buf, COORD_FRAME_HEADER_LEN + GARBAGE_LEN);
        closed_frame = wait_closed(fd, "garbage frame");
        (void)close(fd);
    }
    fd = fd >= 0 ? dial(addr, 0) : -1;
    if (fd >= 0) {
        fill_random(buf, NOISE_LEN, 0xbad);
        (void)send_all(fd, buf, NOISE_LEN);
        closed_noise = wait_closed(fd, "noise");
        (void)close(fd);
    }
    raft_free(buf);
    if (fd < 0) {
        return 2;
    }
    return closed_frame && closed_noise ? 0 : 1;
}

/* Frames cut short, each on its own connection, which we then close: half a
 * header, a header alone, a valid put cut in the middle of its body. */
static int mode_truncated(const char *addr)
{
    static const char key[] = "/badclient/truncated";
    static const char value[] = "never-complete";
    struct coord_client_req_desc d;
    uint8_t *frame = NULL;
    size_t len;
    size_t cuts[3];
    size_t i;
    int rc = 0;

    memset(&d, 0, sizeof(d));
    d.id = 1;
    d.timeout_ms = 1000;
    d.op = COORD_CLIENT_OP_PUT;
    d.key = (const uint8_t *)key;
    d.key_len = sizeof(key) - 1;
    d.value = (const uint8_t *)value;
    d.value_len = sizeof(value) - 1;
    len = encode(&d, &frame);
    if (len == 0) {
        return 2;
    }
    cuts[0] = 2;
    cuts[1] = COORD_FRAME_HEADER_LEN;
    cuts[2] = COORD_FRAME_HEADER_LEN + (len - COORD_FRAME_HEADER_LEN) / 2;
    for (i = 0; i < 3; i++) {
        int fd = dial(addr, 0);

        if (fd < 0) {
            rc = 2;
            break;
        }
        (void)send_all(fd, frame, cuts[i]);
        (void)printf("truncated: sent %zu of %zu bytes, closing\n", cuts[i], len);
        (void)close(fd);
    }
    raft_free(frame);
    return rc;
}

/* Headers announcing more than max (the node's max_request_bytes) and the
 * largest length a header can carry; each connection must be closed. */
static int mode_oversized(const char *addr, uint64_t max)
{
    uint8_t *buf = raft_calloc(1, COORD_FRAME_HEADER_LEN + OVERSIZED_SEND);
    uint64_t lens[2];
    int rc = 0;
    size_t i;

    if (buf == NULL || max >= COORD_FRAME_MAX) {
        raft_free(buf);
        return 2;
    }
    lens[0] = max + 1;
    lens[1] = COORD_FRAME_MAX;
    for (i = 0; i < 2 && rc != 2; i++) {
        int fd = dial(addr, 0);
        char what[64];

        if (fd < 0) {
            rc = 2;
            break;
        }
        coord_frame_header_encode(buf, (size_t)lens[i]);
        (void)snprintf(what, sizeof(what), "oversized len=%llu", (unsigned long long)lens[i]);
        (void)send_all(fd, buf, COORD_FRAME_HEADER_LEN + OVERSIZED_SEND);
        if (!wait_closed(fd, what)) {
            rc = 1;
        }
        (void)close(fd);
    }
    raft_free(buf);
    return rc;
}

struct slow {
    const char *addr;
    const char *key;
    const char *ready_file; /* created once the node stopped reading */
    const char *stop_file;  /* phase 2 ends once it exists */
    uint64_t max_ms;        /* phase 2 ends after this long at most */
    int fd;
    uint64_t n_sent; /* requests encoded and handed to send() */
    uint64_t bytes_sent;
};

#define SLOW_BATCH 512u /* get frames encoded at once */

/* Encode SLOW_BATCH gets of s->key into *buf (grown as needed). Returns the bytes. */
static size_t slow_batch(struct slow *s, uint8_t **buf, size_t *cap)
{
    struct coord_client_req_desc d;
    uint8_t *one = NULL;
    size_t one_cap = 0;
    size_t len = 0;
    unsigned i;

    memset(&d, 0, sizeof(d));
    d.timeout_ms = 60000;
    d.op = COORD_CLIENT_OP_RANGE;
    d.key = (const uint8_t *)s->key;
    d.key_len = strlen(s->key);
    for (i = 0; i < SLOW_BATCH; i++) {
        size_t one_len = 0;

        d.id = s->n_sent + i + 1;
        if (coord_client_codec_encode(&d, &one, &one_cap, &one_len) != 0) {
            break;
        }
        if (len + one_len > *cap) {
            size_t n_cap = (len + one_len) * 2;
            uint8_t *grown = raft_realloc(*buf, n_cap);

            if (grown == NULL) {
                break;
            }
            *buf = grown;
            *cap = n_cap;
        }
        memcpy(*buf + len, one, one_len);
        len += one_len;
    }
    s->n_sent += i;
    raft_free(one);
    return len;
}

/* Phase 1: pipeline gets until the node stops reading. Returns 1 when it
 * did, 0 when it never did (within the limits), -1 when the connection died. */
static int slow_fill(struct slow *s)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t len = 0;
    size_t off = 0;
    uint64_t start = now_ms();
    int rc = 0;

    while (s->n_sent < SLOW_MAX_REQS && now_ms() - start < SLOW_FILL_MS) {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        ssize_t n;

        if (off == len) {
            len = slow_batch(s, &buf, &cap);
            off = 0;
            if (len == 0) {
                rc = -1;
                break;
            }
        }
        if (poll(&p, 1, SLOW_BLOCKED_MS) == 0) {
            rc = 1;
            break;
        }
        if ((p.revents & (POLLERR | POLLHUP)) != 0) {
            rc = -1;
            break;
        }
        n = send(s->fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        /* EWOULDBLOCK is EAGAIN on Linux (and -Wlogical-op refuses the pair). */
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (n < 0) {
            rc = -1;
            break;
        }
        off += (size_t)n;
        s->bytes_sent += (uint64_t)n;
    }
    raft_free(buf);
    return rc;
}

/* Phase 2: hold the connection, never reading. Returns true when the node
 * closed it meanwhile. */
static bool slow_hold(struct slow *s)
{
    uint64_t start = now_ms();

    while (now_ms() - start < s->max_ms && access(s->stop_file, F_OK) != 0) {
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};

        if (poll(&p, 1, SLOW_POLL_MS) > 0 && (p.revents & (POLLERR | POLLHUP)) != 0) {
            (void)printf("slow: closed by the node after %llu ms of holding\n",
                         (unsigned long long)(now_ms() - start));
            return true;
        }
    }
    (void)printf("slow: still open after %llu ms of holding\n",
                 (unsigned long long)(now_ms() - start));
    return false;
}

static int mode_slow(struct slow *s)
{
    FILE *ready;
    int filled;
    bool closed;

    s->fd = dial(s->addr, SLOW_RCVBUF);
    if (s->fd < 0) {
        return 2;
    }
    filled = slow_fill(s);
    (void)printf("slow: sent %llu requests (%llu bytes); %s\n", (unsigned long long)s->n_sent,
                 (unsigned long long)s->bytes_sent,
                 filled == 1   ? "the node stopped reading"
                 : filled == 0 ? "the node never stopped reading"
                               : "the connection failed while sending");
    ready = fopen(s->ready_file, "w");
    if (ready == NULL || fclose(ready) != 0) {
        (void)fprintf(stderr, "badclient: cannot create %s\n", s->ready_file);
    }
    closed = filled == -1 || slow_hold(s);
    (void)close(s->fd);
    (void)printf("slow: closed_by_node=%s\n", closed ? "yes" : "no");
    /* Backpressure must show: the node stops reading or drops us. */
    return filled == 0 && !closed ? 1 : 0;
}

static int parse_slow(int argc, char **argv, struct slow *s)
{
    int i;

    memset(s, 0, sizeof(*s));
    s->addr = argv[2];
    s->max_ms = 60000;
    for (i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--key") == 0) {
            s->key = argv[i + 1];
        } else if (strcmp(argv[i], "--ready") == 0) {
            s->ready_file = argv[i + 1];
        } else if (strcmp(argv[i], "--stop") == 0) {
            s->stop_file = argv[i + 1];
        } else if (strcmp(argv[i], "--max-ms") == 0) {
            s->max_ms = strtoull(argv[i + 1], NULL, 10);
        } else {
            return -1;
        }
    }
    if (i != argc || s->key == NULL || s->ready_file == NULL || s->stop_file == NULL) {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct slow s;

    (void)setvbuf(stdout, NULL, _IOLBF, 0);
    (void)signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "garbage") == 0) {
        return mode_garbage(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "truncated") == 0) {
        return mode_truncated(argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "oversized") == 0) {
        return mode_oversized(argv[2], strtoull(argv[3], NULL, 10));
    }
    if (argc >= 3 && strcmp(argv[1], "slow") == 0 && parse_slow(argc, argv, &s) == 0) {
        return mode_slow(&s);
    }
    usage();
    return 2;
}
