/* SPDX-License-Identifier: MIT */
/* gen_corpus: writes the seed inputs of every fuzz target, made with the
 * project's own encoders (libcoord's request encoder, the client port's
 * answers, the peer codec, the command codec, a real log written by
 * coord/storage/log.c), so that seeds follow the formats as they change.
 *
 *   fuzz_gen_corpus OUTDIR
 *
 * writes OUTDIR/<target>/<name> for each target. The committed corpus is
 * these seeds merged into tests/fuzz/corpus/<target>/ with libFuzzer's
 * -merge=1 (README, "Fuzzing"); this program is not run by any test. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coord/client/codec.h"
#include "coord/codec_client.h"
#include "coord/codec_cmd.h"
#include "coord/codec_peer.h"
#include "coord/frame.h"
#include "coord/storage/log.h"
#include "proto/coord.pb-c.h"
#include "raft/base/alloc.h"

#define PATH_MAX_LEN 1024
/* A struct raft_buf over a string literal, without its NUL. */
#define B(s)                                                                                       \
    {                                                                                              \
        (void *)(uintptr_t)(s), sizeof(s) - 1                                                      \
    }
#define TRAILER_LEN 5u /* the crc32c field that ends a peer frame body */

static const char *out_dir;

static void die(const char *what)
{
    (void)fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void check(int rv, const char *what)
{
    if (rv != 0) {
        (void)fprintf(stderr, "gen_corpus: %s: %s\n", what, raft_err_name(rv));
        exit(1);
    }
}

static void seed(const char *target, const char *name, const void *p, size_t len)
{
    char path[PATH_MAX_LEN];
    FILE *f;

    (void)snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        die(path);
    }
    (void)snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    f = fopen(path, "wb");
    if (f == NULL || (len > 0 && fwrite(p, 1, len, f) != len) || fclose(f) != 0) {
        die(path);
    }
}

/* ---- fuzz_client_frame ------------------------------------------------------------------- */

static size_t request(const struct coord_client_req_desc *d, uint8_t *out, size_t cap)
{
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    size_t len;

    check(coord_client_codec_encode(d, &buf, &buf_cap, &len), "encode request");
    if (len > cap) {
        (void)fprintf(stderr, "gen_corpus: request too large\n");
        exit(1);
    }
    memcpy(out, buf, len);
    raft_free(buf);
    return len;
}

/* A Txn request libcoord cannot make: built with the generated code. */
static size_t txn_request(uint8_t *out)
{
    Coord__Api__ClientFrame f;
    Coord__Api__Request r;
    Coord__Cmd__Txn txn;
    Coord__Cmd__Compare cmp;
    Coord__Cmd__Compare *cmps[1] = {&cmp};
    Coord__Cmd__TxnOp ok;
    Coord__Cmd__TxnOp ko;
    Coord__Cmd__TxnOp *oks[1] = {&ok};
    Coord__Cmd__TxnOp *kos[1] = {&ko};
    Coord__Cmd__Put put;
    Coord__Cmd__Range range;
    size_t len;

    /* The init functions: the generated INIT macros of messages with a
     * oneof trip -Wmissing-braces. */
    coord__api__client_frame__init(&f);
    coord__api__request__init(&r);
    coord__cmd__txn__init(&txn);
    coord__cmd__compare__init(&cmp);
    coord__cmd__txn_op__init(&ok);
    coord__cmd__txn_op__init(&ko);
    coord__cmd__put__init(&put);
    coord__cmd__range__init(&range);
    cmp.has_key = 1;
    cmp.key.data = (uint8_t *)(uintptr_t) "k";
    cmp.key.len = 1;
    cmp.has_target = 1;
    cmp.target = COORD__CMD__COMPARE__TARGET__VERSION;
    cmp.has_result = 1;
    cmp.result = COORD__CMD__COMPARE__RESULT__EQUAL;
    cmp.operand_case = COORD__CMD__COMPARE__OPERAND_NUMBER;
    cmp.number = 0;
    put.has_key = 1;
    put.key.data = (uint8_t *)(uintptr_t) "k";
    put.key.len = 1;
    put.has_value = 1;
    put.value.data = (uint8_t *)(uintptr_t) "v1";
    put.value.len = 2;
    ok.op_case = COORD__CMD__TXN_OP__OP_PUT;
    ok.put = &put;
    range.has_key = 1;
    range.key.data = (uint8_t *)(uintptr_t) "k";
    range.key.len = 1;
    ko.op_case = COORD__CMD__TXN_OP__OP_RANGE;
    ko.range = &range;
    txn.n_compare = 1;
    txn.compare = cmps;
    txn.n_success = 1;
    txn.success = oks;
    txn.n_failure = 1;
    txn.failure = kos;
    r.has_id = 1;
    r.id = 9;
    r.op_case = COORD__API__REQUEST__OP_TXN;
    r.txn = &txn;
    f.has_version = 1;
    f.version = 1;
    f.request = &r;
    len = coord__api__client_frame__pack(&f, out + COORD_FRAME_HEADER_LEN);
    coord_frame_header_encode(out, len);
    return COORD_FRAME_HEADER_LEN + len;
}

static void client_answers(void)
{
    struct coord_codec_client *cc;
    struct coord_api_out out = {0};
    struct coord_api_header h = {.id = 5, .revision = 12, .applied_index = 40};
    struct coord_kv kvs[2] = {
        {.key = B("a"), .value = B("1"), .create_revision = 2, .mod_revision = 3, .version = 2},
        {.key = B("b"),
         .value = B(""),
         .create_revision = 4,
         .mod_revision = 4,
         .version = 1,
         .session = 7},
    };
    struct coord_op_result ops[2] = {
        {.type = COORD_OP_PUT, .kvs = kvs, .n_kvs = 1},
        {.type = COORD_OP_DELETE_RANGE, .n_deleted = 2, .kvs = kvs, .n_kvs = 2},
    };
    struct coord_cmd_result res = {
        .index = 40, .revision = 12, .succeeded = true, .ops = ops, .n_ops = 2};
    struct coord_node_status st = {.id = 1,
                                   .role = RAFT_LEADER,
                                   .term = 3,
                                   .leader = 1,
                                   .commit_index = 40,
                                   .applied_index = 40,
                                   .last_index = 41,
                                   .revision = 12,
                                   .n_members = 1};
    struct coord_api_header err = {.id = 6,
                                   .error = RAFT_ENOTLEADER,
                                   .message = "not the leader",
                                   .leader_id = 2,
                                   .leader_addr = "127.0.0.1:7002"};

    st.members[0].id = 1;
    st.members[0].voter = true;
    (void)snprintf(st.members[0].peer_addr, RAFT_ADDR_MAX, "127.0.0.1:6001");
    check(coord_codec_client_new(&cc), "codec");
    check(coord_codec_client_answer_kvs(cc, &h, kvs, 2, true, &out), "answer kvs");
    seed("fuzz_client_frame", "answer-kvs", out.base, out.len);
    out.len = 0;
    check(coord_codec_client_answer_cmd(cc, &h, &res, true, &out), "answer txn");
    seed("fuzz_client_frame", "answer-txn", out.base, out.len);
    out.len = 0;
    check(coord_codec_client_answer_status(cc, &h, &st, &out), "answer status");
    seed("fuzz_client_frame", "answer-status", out.base, out.len);
    out.len = 0;
    check(coord_codec_client_answer(cc, &err, &out), "answer error");
    seed("fuzz_client_frame", "answer-notleader", out.base, out.len);
    coord_codec_client_out_free(&out);
    coord_codec_client_free(cc);
}

static void client_seeds(void)
{
    static uint8_t buf[4096];
    const uint8_t *k = (const uint8_t *)"key";
    const uint8_t *v = (const uint8_t *)"value";
    const uint8_t *end = (const uint8_t *)"kez";
    struct coord_client_req_desc put = {.id = 1,
                                        .op = COORD_CLIENT_OP_PUT,
                                        .key = k,
                                        .key_len = 3,
                                        .value = v,
                                        .value_len = 5,
                                        .prev_kv = true};
    struct coord_client_req_desc range = {.id = 2,
                                          .timeout_ms = 500,
                                          .op = COORD_CLIENT_OP_RANGE,
                                          .serializable = true,
                                          .key = k,
                                          .key_len = 3,
                                          .range_end = end,
                                          .range_end_len = 3,
                                          .limit = 10};
    struct coord_client_req_desc del = {.id = 3,
                                        .op = COORD_CLIENT_OP_DEL,
                                        .no_forward = true,
                                        .key = k,
                                        .key_len = 3,
                                        .range_end = end,
                                        .range_end_len = 3};
    struct coord_client_req_desc status = {.id = 4, .op = COORD_CLIENT_OP_STATUS};
    struct coord_client_req_desc add = {.id = 5,
                                        .op = COORD_CLIENT_OP_MEMBER,
                                        .member_op = COORD_MEMBER_ADD_LEARNER,
                                        .target = 4,
                                        .peer_addr = "127.0.0.1:6004",
                                        .client_addr = "127.0.0.1:7004"};
    struct coord_client_req_desc remove = {
        .id = 6, .op = COORD_CLIENT_OP_MEMBER, .member_op = COORD_MEMBER_REMOVE, .target = 2};
    struct coord_client_req_desc transfer = {.id = 7, .op = COORD_CLIENT_OP_TRANSFER, .target = 3};
    size_t n;

    seed("fuzz_client_frame", "put", buf, request(&put, buf, sizeof buf));
    seed("fuzz_client_frame", "range", buf, request(&range, buf, sizeof buf));
    seed("fuzz_client_frame", "delete", buf, request(&del, buf, sizeof buf));
    seed("fuzz_client_frame", "status", buf, request(&status, buf, sizeof buf));
    seed("fuzz_client_frame", "member-add", buf, request(&add, buf, sizeof buf));
    seed("fuzz_client_frame", "member-remove", buf, request(&remove, buf, sizeof buf));
    seed("fuzz_client_frame", "transfer", buf, request(&transfer, buf, sizeof buf));
    seed("fuzz_client_frame", "txn", buf, txn_request(buf));
    /* Several frames in one read, as a pipelining client sends them. */
    n = request(&put, buf, sizeof buf);
    n += request(&range, buf + n, sizeof buf - n);
    n += request(&status, buf + n, sizeof buf - n);
    seed("fuzz_client_frame", "pipelined", buf, n);
    client_answers();
}

/* ---- fuzz_peer_frame --------------------------------------------------------------------- */

/* A frame written by the peer codec, as a seed: flags 1 (the target adds the
 * CRC trailer) and the body without its trailer, or flags 0 and the body
 * whole. */
static void peer_seed(const char *name, const struct raft_buf *frame, int fix)
{
    uint8_t buf[8192];
    size_t body = frame->len - COORD_FRAME_HEADER_LEN - (fix ? TRAILER_LEN : 0);

    if (body + 1 > sizeof buf) {
        (void)fprintf(stderr, "gen_corpus: peer frame too large\n");
        exit(1);
    }
    buf[0] = (uint8_t)(fix ? 1 : 0);
    memcpy(buf + 1, (uint8_t *)frame->base + COORD_FRAME_HEADER_LEN, body);
    seed("fuzz_peer_frame", name, buf, body + 1);
    raft_free(frame->base);
}

static void peer_seeds(void)
{
    static uint8_t data[2][24] = {"put k v", "another command"};
    struct raft_entry entries[3] = {
        {.term = 2, .index = 1, .type = RAFT_ENTRY_NOOP},
        {.term = 2, .index = 2, .type = RAFT_ENTRY_NORMAL, .data = {data[0], 7}},
        {.term = 2, .index = 3, .type = RAFT_ENTRY_NORMAL, .data = {data[1], 15}},
    };
    struct raft_msg append = {.type = RAFT_MSG_APPEND,
                              .from = 2,
                              .to = 1,
                              .term = 2,
                              .commit = 1,
                              .n_entries = 3,
                              .entries = entries};
    struct raft_msg msgs[] = {
        {.type = RAFT_MSG_VOTE, .from = 2, .to = 1, .term = 3, .index = 3, .log_term = 2},
        {.type = RAFT_MSG_PREVOTE, .from = 3, .to = 1, .term = 3, .index = 3, .log_term = 2},
        {.type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 2, .commit = 3, .ctx = 5},
        {.type = RAFT_MSG_APPEND_RESP,
         .from = 3,
         .to = 1,
         .term = 2,
         .index = 1,
         .reject = true,
         .hint_index = 1,
         .hint_term = 1},
        {.type = RAFT_MSG_READ_INDEX, .from = 2, .to = 1, .term = 2, .ctx = 17},
        {.type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .to = 1, .term = 2},
        {.type = RAFT_MSG_VOTE_RESP, .from = 3, .to = 1, .term = 3},
    };
    struct raft_snapshot_meta meta = {.index = 10, .term = 2};
    struct raft_msg snap = {
        .type = RAFT_MSG_SNAPSHOT, .from = 2, .to = 1, .term = 2, .snapshot = &meta};
    struct coord_peer_hello hello = {.version = 1, .cluster_id = 99, .node_id = 2, .to_id = 1};
    struct coord_peer_chunk first = {.snapshot_index = 10, .total_len = 12, .data = {data[1], 8}};
    struct coord_peer_chunk last = {.snapshot_index = 10,
                                    .offset = 8,
                                    .total_len = 12,
                                    .data = {data[1] + 8, 4},
                                    .last = true,
                                    .msg = &snap};
    struct raft_buf f;
    char name[32];
    size_t i;

    check(raft_conf_add(&meta.conf, 1, RAFT_VOTER, "127.0.0.1:6001"), "conf");
    check(raft_conf_add(&meta.conf, 2, RAFT_VOTER, "127.0.0.1:6002"), "conf");
    check(raft_conf_add(&meta.conf, 3, RAFT_LEARNER, "127.0.0.1:6003"), "conf");
    check(coord_codec_peer_encode_msgs(&append, 1, COORD_FRAME_MAX, &f), "append");
    peer_seed("append", &f, 1);
    check(coord_codec_peer_encode_msgs(&append, 1, COORD_FRAME_MAX, &f), "append");
    peer_seed("append-trailer", &f, 0);
    for (i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        (void)snprintf(name, sizeof name, "msg-%s", raft_msg_type_name(msgs[i].type));
        check(coord_codec_peer_encode_msgs(&msgs[i], 1, COORD_FRAME_MAX, &f), name);
        peer_seed(name, &f, 1);
    }
    check(coord_codec_peer_encode_msgs(msgs, 4, COORD_FRAME_MAX, &f), "batch");
    peer_seed("batch", &f, 1);
    check(coord_codec_peer_encode_hello(&hello, &f), "hello");
    peer_seed("hello", &f, 1);
    check(coord_codec_peer_encode_keepalive(&f), "keepalive");
    peer_seed("keepalive", &f, 1);
    check(coord_codec_peer_encode_chunk(&first, &f), "chunk");
    peer_seed("chunk", &f, 1);
    check(coord_codec_peer_encode_chunk(&last, &f), "last chunk");
    peer_seed("chunk-last", &f, 1);
}

/* ---- fuzz_cmd ----------------------------------------------------------------------------- */

static void cmd_seed(const char *name, const struct coord_cmd *c)
{
    struct raft_buf b;

    check(coord_cmd_encode(c, &b), name);
    seed("fuzz_cmd", name, b.base, b.len);
    raft_free(b.base);
}

static void cmd_seeds(void)
{
    struct coord_cmd_compare cmps[4] = {
        {.key = B("a"), .target = COORD_CMP_VALUE, .op = COORD_CMP_EQ, .value = B("x")},
        {.key = B("b"), .target = COORD_CMP_VERSION, .op = COORD_CMP_GT, .number = 3},
        {.key = B("c"), .target = COORD_CMP_MOD_REVISION, .op = COORD_CMP_LT, .number = 9},
        {.key = B("d"), .target = COORD_CMP_EXISTS, .op = COORD_CMP_NE, .exists = true},
    };
    struct coord_txn_op ok[2] = {
        {.type = COORD_OP_PUT, .put = {.key = B("a"), .value = B("y"), .prev_kv = true}},
        {.type = COORD_OP_DELETE_RANGE, .del = {.key = B("b"), .range_end = B("c")}},
    };
    struct coord_txn_op ko[1] = {
        {.type = COORD_OP_RANGE, .range = {.key = B("a"), .range_end = B("\0"), .limit = 5}},
    };
    struct coord_cmd put = {
        .client_id = 7, .seq = 3, .time_ms = 1700000000000ull, .type = COORD_CMD_PUT};
    struct coord_cmd del = {.time_ms = 1700000000001ull, .type = COORD_CMD_DELETE_RANGE};
    struct coord_cmd txn = {
        .client_id = 7, .seq = 4, .time_ms = 1700000000002ull, .type = COORD_CMD_TXN};

    put.put = (struct coord_cmd_put){.key = B("key"), .value = B("value"), .session = 11};
    cmd_seed("put", &put);
    del.del = (struct coord_cmd_delete){.key = B("k"), .range_end = B("l"), .prev_kv = true};
    cmd_seed("delete", &del);
    txn.txn = (struct coord_cmd_txn){.compares = cmps,
                                     .n_compares = 4,
                                     .success = ok,
                                     .n_success = 2,
                                     .failure = ko,
                                     .n_failure = 1};
    cmd_seed("txn", &txn);
}

/* ---- fuzz_config -------------------------------------------------------------------------- */

static void config_seeds(void)
{
    static const char full[] =
        "\0# a node of three\n"
        "id = 1\n"
        "data_dir = /var/lib/coord\n"
        "peer_addr = 127.0.0.1:6001\n"
        "client-addr = 127.0.0.1:7001   # clients\n"
        "initial_members = 1=127.0.0.1:6001/127.0.0.1:7001,2=[::1]:6002,3=localhost:6003\n"
        "cluster_id = 42\n"
        "election_timeout_ms = 1000\n"
        "heartbeat_ms = 100\n"
        "snapshot_entries = 10000\n"
        "snapshot_trailing = 4096\n"
        "max_request_bytes = 4194304\n"
        "max_peer_frame_bytes = 67108864\n"
        "map_size_mb = 1024\n"
        "request_timeout_ms = 5000\n"
        "max_clients = 10000\n"
        "log_level = debug\n";
    static const char args[] = "\1--id\0002\0--data-dir=/tmp/n2\0--peer-addr\000127.0.0.1:6002\0"
                               "--client_addr=127.0.0.1:7002\0--log-level\0warn\0"
                               "--initial-members=1=a:1,2=b:2/c:3";
    static const char bad[] = "\0id = 0\n";

    seed("fuzz_config", "file", full, sizeof full - 1);
    seed("fuzz_config", "args", args, sizeof args - 1);
    seed("fuzz_config", "bad-id", bad, sizeof bad - 1);
}

/* ---- fuzz_log_open ------------------------------------------------------------------------ */

struct packer {
    uint8_t buf[1u << 18];
    size_t len;
};

/* Append the file dir/name to p as one record of fuzz_log_open's input. */
static void pack_file(struct packer *p, const char *dir, const char *name, uint8_t kind)
{
    char path[PATH_MAX_LEN];
    FILE *f;
    size_t n;

    (void)snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL) {
        die(path);
    }
    n = fread(p->buf + p->len + 3, 1, sizeof p->buf - p->len - 3, f);
    (void)fclose(f);
    if (n > 0xffff) {
        (void)fprintf(stderr, "gen_corpus: %s is larger than 64 KiB\n", path);
        exit(1);
    }
    p->buf[p->len] = kind;
    p->buf[p->len + 1] = (uint8_t)n;
    p->buf[p->len + 2] = (uint8_t)(n >> 8);
    p->len += 3 + n;
}

/* Pack every file of dir: segments kind 0, the hard state 1, the
 * snapshot's meta 2; fix_crc adds the target's CRC-fixing bit. */
static void pack_dir(const char *dir, const char *name, uint8_t opts, uint8_t fix_crc)
{
    static struct packer p;
    struct dirent **list;
    int n;
    int i;

    p.len = 0;
    p.buf[p.len++] = opts;
    n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) {
        die(dir);
    }
    for (i = 0; i < n; i++) {
        const char *f = list[i]->d_name;
        size_t len = strlen(f);

        if (strcmp(f, "hardstate") == 0) {
            pack_file(&p, dir, f, (uint8_t)(1 | fix_crc));
        } else if (strcmp(f, "snapshot.meta") == 0) {
            pack_file(&p, dir, f, (uint8_t)(2 | fix_crc));
        } else if (len > 4 && strcmp(f + len - 4, ".seg") == 0) {
            pack_file(&p, dir, f, fix_crc);
        }
        free(list[i]);
    }
    free(list);
    seed("fuzz_log_open", name, p.buf, p.len);
}

static void rm_dir(const char *dir)
{
    struct dirent **list;
    char path[PATH_MAX_LEN];
    int n = scandir(dir, &list, NULL, alphasort);
    int i;

    for (i = 0; i < n; i++) {
        if (list[i]->d_name[0] != '.') {
            (void)snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            (void)unlink(path);
        }
        free(list[i]);
    }
    free(list);
    (void)rmdir(dir);
}

/* Append entries [from, to] of the given term, each with a little data. */
static void append(struct coord_log *log, raft_index from, raft_index to, raft_term term)
{
    uint8_t data[40];
    raft_index i;

    for (i = from; i <= to; i++) {
        struct raft_entry e = {.term = term, .index = i, .type = RAFT_ENTRY_NORMAL};

        (void)snprintf((char *)data, sizeof data, "entry %llu of term %llu", (unsigned long long)i,
                       (unsigned long long)term);
        e.data.base = data;
        e.data.len = strlen((char *)data);
        check(coord_log_append(log, &e, 1), "append");
        if (i % 4 == 0) {
            check(coord_log_sync(log), "sync");
        }
    }
    check(coord_log_sync(log), "sync");
}

static void log_seeds(void)
{
    char dir[] = "/tmp/coord-gen-corpus-XXXXXX";
    char sub[PATH_MAX_LEN];
    struct coord_log_opts opts;
    struct coord_log_recovered rec;
    struct raft_snapshot_meta meta = {.index = 30, .term = 3};
    struct coord_log *log;
    char err[256];

    if (mkdtemp(dir) == NULL) {
        die("mkdtemp");
    }
    (void)snprintf(sub, sizeof sub, "%s/log", dir);
    coord_log_opts_default(&opts);
    opts.segment_size = 4096;
    opts.max_entry_size = 4096 - 61;
    opts.preallocate = false;
    check(coord_log_open(sub, &opts, &log, &rec, err, sizeof err), "open");
    coord_log_recovered_free(&rec);
    coord_log_close(log);
    pack_dir(sub, "empty", 0, 0);

    check(coord_log_open(sub, &opts, &log, &rec, err, sizeof err), "open");
    coord_log_recovered_free(&rec);
    check(coord_log_set_hard_state(log, 2, 1, 0), "hard state");
    append(log, 1, 20, 1);
    append(log, 21, 80, 2);
    check(coord_log_set_hard_state(log, 3, 2, 70), "hard state");
    append(log, 81, 90, 3);
    coord_log_close(log);
    pack_dir(sub, "segments", 0, 0);
    pack_dir(sub, "segments-fixcrc", 0, 0x80);

    check(coord_log_open(sub, &opts, &log, &rec, err, sizeof err), "open");
    coord_log_recovered_free(&rec);
    check(raft_conf_add(&meta.conf, 1, RAFT_VOTER, "127.0.0.1:6001"), "conf");
    check(raft_conf_add(&meta.conf, 2, RAFT_LEARNER, "127.0.0.1:6002"), "conf");
    meta.index = 60;
    meta.term = 2;
    check(coord_log_set_snapshot(log, &meta), "set snapshot");
    check(coord_log_compact(log, 50), "compact");
    coord_log_close(log);
    pack_dir(sub, "snapshot", 1, 0x80);

    check(coord_log_open(sub, &opts, &log, &rec, err, sizeof err), "open");
    coord_log_recovered_free(&rec);
    meta.index = 200;
    meta.term = 5;
    check(coord_log_install_snapshot(log, &meta), "install snapshot");
    append(log, 201, 203, 5);
    coord_log_close(log);
    pack_dir(sub, "installed", 9, 0x80);
    rm_dir(sub);
    rm_dir(dir);
}

/* ---- fuzz_raft_step ----------------------------------------------------------------------- */

static void raft_step_seeds(void)
{
    /* seed (2), size (1), then actions: low nibble action, high nibble arg. */
    static const uint8_t elect[] = {1, 0, 0, 0xf0, 0xf0, 0xf0, 0x8b, 0x8b, 0x50, 0x8c, 0x50};
    static const uint8_t crash[] = {2,    0,    0,    0xf0, 0xf0, 0x8b, 0x50, 0x86, 0xf0, 0xf0,
                                    0x8b, 0x50, 0x06, 0x16, 0xf0, 0xf0, 0xf0, 0x8b, 0xf0};
    static const uint8_t partition[] = {3,    0,    1,    0xf0, 0xf0, 0x8b, 0x08, 0xf0, 0xf0,
                                        0x8b, 0x0c, 0x1c, 0xf0, 0x0a, 0xf0, 0x1e, 0xf0, 0x8b};
    static const uint8_t churn[] = {4,    0,    0,    0xf0, 0xf0, 0x8b, 0x2d, 0xf0, 0x2d,
                                    0xf0, 0x3d, 0xf0, 0x8b, 0x5f, 0x8b, 0x8b, 0xf0, 0x4d,
                                    0xf0, 0x17, 0xf0, 0x09, 0x8b, 0xf0, 0x0f, 0xf0};

    seed("fuzz_raft_step", "elect", elect, sizeof elect);
    seed("fuzz_raft_step", "crash", crash, sizeof crash);
    seed("fuzz_raft_step", "partition", partition, sizeof partition);
    seed("fuzz_raft_step", "churn", churn, sizeof churn);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        (void)fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        die(out_dir);
    }
    client_seeds();
    peer_seeds();
    cmd_seeds();
    config_seeds();
    log_seeds();
    raft_step_seeds();
    printf("gen_corpus: seeds written to %s/<target>/\n", out_dir);
    return 0;
}
