/* SPDX-License-Identifier: MIT */
/* json: the small JSON writer behind coordctl --json. It writes one value
 * (objects, arrays, strings, unsigned numbers, booleans, null) into a
 * ctl_sbuf, placing commas and colons itself. It does not parse JSON.
 *
 * Strings are byte strings: valid UTF-8 passes through; `"` `\` and control
 * characters are escaped; every byte that is not part of a valid UTF-8
 * sequence is written as \u00XX (its value as a code point below 256), so
 * any key or value from the store prints as valid JSON. Scripts parse this
 * output: changing the escaping or a field name breaks them. */
#ifndef COORD_CTL_JSON_H
#define COORD_CTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/ctl/sbuf.h"

#define CTL_JSON_MAX_DEPTH 16 /* nested objects and arrays */

struct ctl_json {
    struct ctl_sbuf *out;               /* borrowed; errors stick in out->err */
    unsigned depth;                     /* open objects and arrays, <= CTL_JSON_MAX_DEPTH */
    bool in_object[CTL_JSON_MAX_DEPTH]; /* level i is an object (else an array) */
    bool has_items[CTL_JSON_MAX_DEPTH]; /* level i holds at least one member */
    bool after_key;                     /* a key was written; its value is next */
};

/* Start writing into out (borrowed until the last call on j). */
void ctl_json_init(struct ctl_json *j, struct ctl_sbuf *out);

/* Structure. A member of an object is ctl_json_key() then one value.
 * Misuse (a value without a key in an object, unbalanced ends, nesting past
 * CTL_JSON_MAX_DEPTH) is a bug of the caller and asserts. */
void ctl_json_object_begin(struct ctl_json *j);
void ctl_json_object_end(struct ctl_json *j);
void ctl_json_array_begin(struct ctl_json *j);
void ctl_json_array_end(struct ctl_json *j);
void ctl_json_key(struct ctl_json *j, const char *key);

/* Values. ctl_json_bytes() takes any bytes (borrowed), escaped as above. */
void ctl_json_str(struct ctl_json *j, const char *s);
void ctl_json_bytes(struct ctl_json *j, const void *p, size_t len);
void ctl_json_u64(struct ctl_json *j, uint64_t v);
void ctl_json_bool(struct ctl_json *j, bool v);
void ctl_json_null(struct ctl_json *j);

/* Check that every object and array was closed. Returns out->err (0,
 * RAFT_ENOMEM or RAFT_ETOOBIG). */
int ctl_json_finish(struct ctl_json *j);

/* Append len bytes of p escaped as the inside of a JSON string (no quotes).
 * Also used to print keys safely on one line in error messages. */
void ctl_json_escape(struct ctl_sbuf *out, const void *p, size_t len);

#endif /* COORD_CTL_JSON_H */
