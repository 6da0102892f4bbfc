/* SPDX-License-Identifier: MIT */
/* err: names and messages of RAFT_E* codes, generated from one table. */
#include "raft/base/err.h"

const char *raft_err_str(int code)
{
    switch (code) {
    case 0:
        return "success";
#define RAFT_ERR_CASE(name, value, msg)                                                            \
    case -(value):                                                                                 \
        return msg;
        RAFT_ERR_TABLE(RAFT_ERR_CASE)
#undef RAFT_ERR_CASE
    default:
        return "unknown error";
    }
}

const char *raft_err_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define RAFT_ERR_CASE(name, value, msg)                                                            \
    case -(value):                                                                                 \
        return #name;
        RAFT_ERR_TABLE(RAFT_ERR_CASE)
#undef RAFT_ERR_CASE
    default:
        return "E?";
    }
}
