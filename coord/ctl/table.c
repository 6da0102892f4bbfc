/* SPDX-License-Identifier: MIT */
/* table: rows of copied cells, rendered with padded columns. */
#include "coord/ctl/table.h"

#include <string.h>

#include "raft/base/alloc.h"
#include "raft/base/assert.h"
#include "raft/base/err.h"

#define TABLE_GAP "  " /* between two columns */

void ctl_table_init(struct ctl_table *t, size_t n_cols)
{
    RAFT_ASSERT(n_cols >= 1 && n_cols <= CTL_TABLE_MAX_COLS);
    t->n_cols = n_cols;
    t->n_rows = 0;
    t->cap = 0;
    t->cells = NULL;
}

void ctl_table_close(struct ctl_table *t)
{
    size_t i;

    for (i = 0; i < t->n_rows * t->n_cols; i++) {
        raft_free(t->cells[i]);
    }
    raft_free(t->cells);
    t->cells = NULL;
    t->n_rows = 0;
    t->cap = 0;
}

static int grow(struct ctl_table *t)
{
    size_t cap = t->cap > 0 ? t->cap * 2 : 8;
    char **cells;

    if (cap > CTL_TABLE_MAX_ROWS) {
        cap = CTL_TABLE_MAX_ROWS;
    }
    cells = raft_realloc(t->cells, cap * t->n_cols * sizeof(*cells));
    if (cells == NULL) {
        return RAFT_ENOMEM;
    }
    t->cells = cells;
    t->cap = cap;
    return 0;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    char **row;
    size_t i;
    int rv;

    if (t->n_rows >= CTL_TABLE_MAX_ROWS) {
        return RAFT_ETOOBIG;
    }
    if (t->n_rows == t->cap) {
        rv = grow(t);
        if (rv != 0) {
            return rv;
        }
    }
    row = t->cells + t->n_rows * t->n_cols;
    for (i = 0; i < t->n_cols; i++) {
        const char *s = cells[i] != NULL ? cells[i] : "-";
        row[i] = raft_memdup(s, strlen(s) + 1);
        if (row[i] == NULL) {
            goto err_after_cells;
        }
    }
    t->n_rows++;
    return 0;

err_after_cells:
    while (i > 0) {
        i--;
        raft_free(row[i]);
    }
    return RAFT_ENOMEM;
}

void ctl_table_render(const struct ctl_table *t, struct ctl_sbuf *out)
{
    size_t width[CTL_TABLE_MAX_COLS] = {0};
    size_t r;
    size_t c;

    for (r = 0; r < t->n_rows; r++) {
        for (c = 0; c < t->n_cols; c++) {
            size_t len = strlen(t->cells[r * t->n_cols + c]);
            width[c] = len > width[c] ? len : width[c];
        }
    }
    for (r = 0; r < t->n_rows; r++) {
        for (c = 0; c < t->n_cols; c++) {
            const char *cell = t->cells[r * t->n_cols + c];
            size_t pad = width[c] - strlen(cell);

            ctl_sbuf_puts(out, cell);
            if (c + 1 == t->n_cols) {
                break;
            }
            while (pad-- > 0) {
                ctl_sbuf_putc(out, ' ');
            }
            ctl_sbuf_puts(out, TABLE_GAP);
        }
        ctl_sbuf_putc(out, '\n');
    }
}
