/* SPDX-License-Identifier: MIT */
/* fsutil: temporary directories and store dumps for the fsm unit tests. */
#include "tests/lib/fsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "coord/storage/kvstore.h"

char *fsutil_mkdtemp(void)
{
    char *dir = strdup("/tmp/coord-test-XXXXXX");

    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

char *fsutil_join(const char *path, const char *name)
{
    size_t len = strlen(path) + strlen(name) + 2;
    char *p = malloc(len);

    assert_non_null(p);
    (void)snprintf(p, len, "%s/%s", path, name);
    return p;
}

void fsutil_rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (path == NULL || lstat(path, &st) != 0) {
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        assert_int_equal(unlink(path), 0);
        return;
    }
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char *child;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        child = fsutil_join(path, e->d_name);
        fsutil_rm_rf(child);
        free(child);
    }
    closedir(d);
    assert_int_equal(rmdir(path), 0);
}

void fsutil_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void append(uint8_t **buf, size_t *len, const void *p, size_t n)
{
    uint64_t n64 = n;

    *buf = realloc(*buf, *len + sizeof n64 + n + 1);
    assert_non_null(*buf);
    memcpy(*buf + *len, &n64, sizeof n64);
    if (n > 0) {
        memcpy(*buf + *len + sizeof n64, p, n);
    }
    *len += sizeof n64 + n;
}

uint8_t *fsutil_dump(const char *dir, size_t *len)
{
    struct coord_kvstore *ks;
    struct coord_kvstore_txn txn;
    uint8_t *buf = NULL;
    int db;

    *len = 0;
    assert_int_equal(coord_kvstore_open(dir, NULL, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, false, &txn), 0);
    for (db = 0; db < COORD_DB_N; db++) {
        const char *name = coord_kvstore_db_name((enum coord_kvstore_db)db);
        struct coord_kvstore_cursor cur;
        struct raft_buf k;
        struct raft_buf v;
        int rv;

        append(&buf, len, name, strlen(name));
        assert_int_equal(coord_kvstore_cursor_open(&txn, (enum coord_kvstore_db)db, &cur), 0);
        for (rv = coord_kvstore_cursor_seek(&cur, NULL, &k, &v); rv == 0;
             rv = coord_kvstore_cursor_next(&cur, &k, &v)) {
            append(&buf, len, k.base, k.len);
            append(&buf, len, v.base, v.len);
        }
        assert_int_equal(rv, RAFT_ENOTFOUND);
        coord_kvstore_cursor_close(&cur);
    }
    coord_kvstore_txn_abort(&txn);
    coord_kvstore_close(ks);
    return buf;
}

size_t fsutil_count(const char *dir, int db)
{
    struct coord_kvstore *ks;
    struct coord_kvstore_txn txn;
    struct coord_kvstore_cursor cur;
    struct raft_buf k;
    struct raft_buf v;
    size_t n = 0;
    int rv;

    assert_int_equal(coord_kvstore_open(dir, NULL, &ks), 0);
    assert_int_equal(coord_kvstore_txn_begin(ks, false, &txn), 0);
    assert_int_equal(coord_kvstore_cursor_open(&txn, (enum coord_kvstore_db)db, &cur), 0);
    for (rv = coord_kvstore_cursor_seek(&cur, NULL, &k, &v); rv == 0;
         rv = coord_kvstore_cursor_next(&cur, &k, &v)) {
        n++;
    }
    assert_int_equal(rv, RAFT_ENOTFOUND);
    coord_kvstore_cursor_close(&cur);
    coord_kvstore_txn_abort(&txn);
    coord_kvstore_close(ks);
    return n;
}
