/* SPDX-License-Identifier: MIT */
/* test_addr: the one address reader (coord/addr.c) that settings, the peer
 * transport, the client port and libcoord share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above. */
#include <cmocka.h>
#include <netinet/in.h>
#include <string.h>

#include "coord/addr.h"
#include "raft/base/err.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int parse(const char *s, struct coord_addr *a)
{
    return coord_addr_parse(s, strlen(s), a);
}

static void test_addr_parses_names_v4_and_bracketed_v6(void **state)
{
    struct coord_addr a;

    (void)state;
    assert_int_equal(parse("127.0.0.1:7001", &a), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_string_equal(a.port, "7001");
    assert_int_equal(a.port_num, 7001);

    assert_int_equal(parse("[::1]:65535", &a), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port_num, 65535);

    assert_int_equal(parse("node-3.example:0", &a), 0); /* a listener's any port */
    assert_string_equal(a.host, "node-3.example");
    assert_int_equal(a.port_num, 0);

    /* Only len bytes count: a list item needs no NUL of its own. */
    assert_int_equal(coord_addr_parse("h:12,other:13", 4, &a), 0);
    assert_string_equal(a.host, "h");
    assert_int_equal(a.port_num, 12);
}

static void test_addr_refuses_what_is_not_host_port(void **state)
{
    static const char *bad[] = {
        "",     "localhost", ":80",      "[]:80", "h:",      "h:65536", "h:12a",
        "h:-1", "h:+1",      "h:123456", "h: 80", "h:99999", "[::1]:",  "h:80:x"};
    char longhost[COORD_ADDR_HOST_MAX + 8];
    struct coord_addr a;
    int i;

    (void)state;
    for (i = 0; i < N(bad); i++) {
        memset(&a, 0x55, sizeof a);
        if (parse(bad[i], &a) != RAFT_EINVAL) {
            fail_msg("'%s' was accepted", bad[i]);
        }
    }
    memset(longhost, 'a', sizeof longhost);
    (void)memcpy(longhost + COORD_ADDR_HOST_MAX, ":80", 4);
    assert_int_equal(parse(longhost, &a), RAFT_EINVAL); /* a host of HOST_MAX bytes */
    (void)memcpy(longhost + COORD_ADDR_HOST_MAX - 1, ":80", 4);
    assert_int_equal(parse(longhost, &a), 0); /* one byte shorter fits, with its NUL */
    assert_int_equal(strlen(a.host), COORD_ADDR_HOST_MAX - 1);
}

static void test_addr_resolves_literals_at_once_and_names_by_lookup(void **state)
{
    uv_loop_t loop;
    uv_getaddrinfo_t gai;
    struct sockaddr_storage ss;

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(coord_addr_resolve(&loop, "127.0.0.1:7001", &ss, &gai, NULL), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7001);

    assert_int_equal(coord_addr_resolve(&loop, "[::1]:7002", &ss, &gai, NULL), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 7002);

    /* A name goes through getaddrinfo (synchronously without a callback). */
    assert_int_equal(coord_addr_resolve(&loop, "localhost:7003", &ss, &gai, NULL), 0);
    assert_true(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);

    assert_int_equal(coord_addr_resolve(&loop, "no-port", &ss, &gai, NULL), UV_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parses_names_v4_and_bracketed_v6),
        cmocka_unit_test(test_addr_refuses_what_is_not_host_port),
        cmocka_unit_test(test_addr_resolves_literals_at_once_and_names_by_lookup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
