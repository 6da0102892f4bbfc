/* SPDX-License-Identifier: MIT */
/* json: a streaming JSON writer with byte-exact string escaping. */
#include "coord/ctl/json.h"

#include <inttypes.h>
#include <string.h>

#include "raft/base/assert.h"

void ctl_json_init(struct ctl_json *j, struct ctl_sbuf *out)
{
    j->out = out;
    j->depth = 0;
    j->after_key = false;
}

/* Write the separator a new value needs at the current position. */
static void before_value(struct ctl_json *j)
{
    unsigned top;

    if (j->depth == 0) {
        return;
    }
    top = j->depth - 1;
    if (j->in_object[top]) {
        RAFT_ASSERT(j->after_key);
        j->after_key = false;
        return;
    }
    if (j->has_items[top]) {
        ctl_sbuf_putc(j->out, ',');
    }
    j->has_items[top] = true;
}

static void open_level(struct ctl_json *j, bool object)
{
    before_value(j);
    RAFT_ASSERT(j->depth < CTL_JSON_MAX_DEPTH);
    j->in_object[j->depth] = object;
    j->has_items[j->depth] = false;
    j->depth++;
    ctl_sbuf_putc(j->out, object ? '{' : '[');
}

static void close_level(struct ctl_json *j, bool object)
{
    RAFT_ASSERT(j->depth > 0);
    RAFT_ASSERT(j->in_object[j->depth - 1] == object);
    RAFT_ASSERT(!j->after_key);
    j->depth--;
    ctl_sbuf_putc(j->out, object ? '}' : ']');
}

void ctl_json_object_begin(struct ctl_json *j)
{
    open_level(j, true);
}

void ctl_json_object_end(struct ctl_json *j)
{
    close_level(j, true);
}

void ctl_json_array_begin(struct ctl_json *j)
{
    open_level(j, false);
}

void ctl_json_array_end(struct ctl_json *j)
{
    close_level(j, false);
}

void ctl_json_key(struct ctl_json *j, const char *key)
{
    unsigned top;

    RAFT_ASSERT(j->depth > 0);
    top = j->depth - 1;
    RAFT_ASSERT(j->in_object[top] && !j->after_key);
    if (j->has_items[top]) {
        ctl_sbuf_putc(j->out, ',');
    }
    j->has_items[top] = true;
    ctl_sbuf_putc(j->out, '"');
    ctl_json_escape(j->out, key, strlen(key));
    ctl_sbuf_puts(j->out, "\":");
    j->after_key = true;
}

void ctl_json_str(struct ctl_json *j, const char *s)
{
    ctl_json_bytes(j, s, strlen(s));
}

void ctl_json_bytes(struct ctl_json *j, const void *p, size_t len)
{
    before_value(j);
    ctl_sbuf_putc(j->out, '"');
    ctl_json_escape(j->out, p, len);
    ctl_sbuf_putc(j->out, '"');
}

void ctl_json_u64(struct ctl_json *j, uint64_t v)
{
    before_value(j);
    ctl_sbuf_printf(j->out, "%" PRIu64, v);
}

void ctl_json_bool(struct ctl_json *j, bool v)
{
    before_value(j);
    ctl_sbuf_puts(j->out, v ? "true" : "false");
}

void ctl_json_null(struct ctl_json *j)
{
    before_value(j);
    ctl_sbuf_puts(j->out, "null");
}

int ctl_json_finish(struct ctl_json *j)
{
    RAFT_ASSERT(j->depth == 0 && !j->after_key);
    return j->out->err;
}

static bool is_cont(uint8_t c)
{
    return (c & 0xC0) == 0x80;
}

/* Length of the valid UTF-8 sequence starting at p (n bytes left), or 0 when
 * p[0] does not start one. Rejects overlong forms, surrogates (U+D800 to
 * U+DFFF) and code points above U+10FFFF, as RFC 3629 does. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;
    size_t len;
    size_t i;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (!is_cont(p[i])) {
            return 0;
        }
    }
    return len;
}

/* The two-character escape of c, or 0 when it has none. */
static char short_escape(uint8_t c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 0;
    }
}

void ctl_json_escape(struct ctl_sbuf *out, const void *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = p;
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t run = utf8_len(s + i, len - i);
        char esc = short_escape(c);

        if (esc != 0) {
            char two[2] = {'\\', esc};
            ctl_sbuf_append(out, two, sizeof(two));
            i++;
        } else if (run == 0 || c < 0x20 || c == 0x7F) {
            /* A control character, DEL, or a byte outside valid UTF-8. */
            char six[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            ctl_sbuf_append(out, six, sizeof(six));
            i++;
        } else {
            ctl_sbuf_append(out, s + i, run);
            i += run;
        }
    }
}
