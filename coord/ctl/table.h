/* SPDX-License-Identifier: MIT */
/* table: the aligned text tables of coordctl's human output. Cells are
 * copied in row by row; rendering pads every column but the last to its
 * widest cell (in bytes) and separates columns with two spaces. It does not
 * truncate, wrap or measure display width. */
#ifndef COORD_CTL_TABLE_H
#define COORD_CTL_TABLE_H

#include <stddef.h>

#include "coord/ctl/sbuf.h"

#define CTL_TABLE_MAX_COLS 16    /* columns of one table */
#define CTL_TABLE_MAX_ROWS 65536 /* rows, header included */

struct ctl_table {
    size_t n_cols; /* 1..CTL_TABLE_MAX_COLS, fixed by ctl_table_init() */
    size_t n_rows; /* rows added, the header included */
    size_t cap;    /* rows allocated */
    char **cells;  /* n_rows * n_cols owned strings, row-major */
};

/* An empty table of n_cols columns (1..CTL_TABLE_MAX_COLS, else asserts). */
void ctl_table_init(struct ctl_table *t, size_t n_cols);

/* Free every cell. No-op on a zeroed table. */
void ctl_table_close(struct ctl_table *t);

/* Append one row: cells holds n_cols NUL-terminated strings, borrowed (each
 * is copied; NULL is written as "-"). Errors: RAFT_ENOMEM, RAFT_ETOOBIG
 * (past CTL_TABLE_MAX_ROWS). On error the table is unchanged. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);

/* Render every row, each ending in '\n', into out. Errors stick in out. */
void ctl_table_render(const struct ctl_table *t, struct ctl_sbuf *out);

#endif /* COORD_CTL_TABLE_H */
