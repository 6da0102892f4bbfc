/* SPDX-License-Identifier: MIT */
/* fsutil: temporary directories and store dumps shared by the storage and state-machine tests. */
#ifndef TESTS_LIB_FSUTIL_H
#define TESTS_LIB_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Create a fresh directory /tmp/coord-test-XXXXXX; returns owned (free()). */
char *fsutil_mkdtemp(void);

/* path joined with name; returns owned (free()). */
char *fsutil_join(const char *path, const char *name);

/* Remove path and everything below it. A missing path is a no-op. */
void fsutil_rm_rf(const char *path);

/* Write len bytes to the file path (created or truncated). */
void fsutil_write_file(const char *path, const void *data, size_t len);

/* Every key and value of every named database of the (closed) store in dir,
 * as one byte string: per database its name, then each (key, value) with
 * their lengths. *len is its length; returns owned (free()). Two stores with
 * equal dumps hold the same contents. */
uint8_t *fsutil_dump(const char *dir, size_t *len);

/* The number of keys of database db (enum coord_kvstore_db) in the store in
 * dir, which must be closed. */
size_t fsutil_count(const char *dir, int db);

#endif /* TESTS_LIB_FSUTIL_H */
