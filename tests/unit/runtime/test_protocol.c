/*
 * test_protocol.c: runtime protocol frames: round trips, byte layout,
 * partial input, limits and unknown types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "runtime/protocol.h"

static void test_round_trip(void **state)
{
    (void)state;
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    const char meta[] = "{\"requestId\":\"r1\"}";
    const char body[] = "\x00\x01\xff binary";
    assert_int_equal(
        nb_frame_encode(&b, NB_FRAME_INVOKE, 0, 42, meta, strlen(meta), body, sizeof(body) - 1), 0);
    assert_int_equal(nb_frame_encode(&b, NB_FRAME_LOG, NB_FRAME_F_MORE, 7, NULL, 0, "x", 1), 0);
    assert_int_equal(b.len, 2 * NB_FRAME_HEADER_SIZE + strlen(meta) + sizeof(body) - 1 + 1);

    struct nb_frame f;
    long n = nb_frame_decode(b.data, b.len, &f);
    assert_int_equal(n, NB_FRAME_HEADER_SIZE + strlen(meta) + sizeof(body) - 1);
    assert_int_equal(f.type, NB_FRAME_INVOKE);
    assert_int_equal(f.flags, 0);
    assert_int_equal(f.id, 42);
    assert_int_equal(f.meta_len, strlen(meta));
    assert_memory_equal(f.meta, meta, strlen(meta));
    assert_int_equal(f.body_len, sizeof(body) - 1);
    assert_memory_equal(f.body, body, sizeof(body) - 1);

    long n2 = nb_frame_decode(b.data + n, b.len - (size_t)n, &f);
    assert_int_equal(n2, NB_FRAME_HEADER_SIZE + 1);
    assert_int_equal(f.type, NB_FRAME_LOG);
    assert_int_equal(f.flags, NB_FRAME_F_MORE);
    assert_int_equal(f.id, 7);
    assert_int_equal(f.meta_len, 0);
    assert_int_equal(f.body_len, 1);
    assert_int_equal(f.body[0], 'x');
    nb_buf_release(&b);
}

static void test_header_layout(void **state)
{
    (void)state;
    unsigned char h[NB_FRAME_HEADER_SIZE];
    nb_frame_header_encode(h, NB_FRAME_RESULT, 1, 0x01020304, 0x10, 0x0a0b0c0d);
    const unsigned char want[] = {5, 1, 0, 0, 4, 3, 2, 1, 0x10, 0, 0, 0, 0x0d, 0x0c, 0x0b, 0x0a};
    assert_memory_equal(h, want, sizeof(want));
}

static void test_partial_input(void **state)
{
    (void)state;
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_frame_encode(&b, NB_FRAME_RESULT, 0, 1, "{}", 2, "hello", 5), 0);
    struct nb_frame f;
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(nb_frame_decode(b.data, i, &f), 0);
    assert_int_equal(nb_frame_decode(b.data, b.len, &f), (long)b.len);
    /* Trailing bytes of the next frame do not change the answer. */
    assert_int_equal(nb_buf_append(&b, "\x07", 1), 0);
    assert_int_equal(nb_frame_decode(b.data, b.len, &f), (long)b.len - 1);
    nb_buf_release(&b);
}

static void test_limits(void **state)
{
    (void)state;
    struct nb_frame f;
    unsigned char h[NB_FRAME_HEADER_SIZE];
    nb_frame_header_encode(h, NB_FRAME_RESULT, 0, 1, NB_FRAME_MAX_META + 1, 0);
    assert_int_equal(nb_frame_decode((const char *)h, sizeof(h), &f), -EMSGSIZE);
    nb_frame_header_encode(h, NB_FRAME_RESULT, 0, 1, 0, NB_FRAME_MAX_BODY + 1);
    assert_int_equal(nb_frame_decode((const char *)h, sizeof(h), &f), -EMSGSIZE);
    /* Exactly at the limit is fine: just incomplete. */
    nb_frame_header_encode(h, NB_FRAME_RESULT, 0, 1, NB_FRAME_MAX_META, NB_FRAME_MAX_BODY);
    assert_int_equal(nb_frame_decode((const char *)h, sizeof(h), &f), 0);

    struct nb_buf b;
    nb_buf_init(&b, 64);
    static char big[NB_FRAME_MAX_META + 1];
    assert_int_equal(nb_frame_encode(&b, NB_FRAME_LOG, 0, 0, big, sizeof(big), NULL, 0), -EMSGSIZE);
    /* The output cap: all or nothing. */
    assert_int_equal(nb_frame_encode(&b, NB_FRAME_LOG, 0, 0, big, 40, NULL, 0), 0);
    size_t len = b.len;
    assert_int_equal(nb_frame_encode(&b, NB_FRAME_LOG, 0, 0, big, 40, NULL, 0), -ENOBUFS);
    assert_int_equal(b.len, len);
    nb_buf_release(&b);
}

static void test_unknown_type(void **state)
{
    (void)state;
    struct nb_frame f;
    unsigned char h[NB_FRAME_HEADER_SIZE];
    nb_frame_header_encode(h, 0, 0, 1, 0, 0);
    assert_int_equal(nb_frame_decode((const char *)h, sizeof(h), &f), -EPROTO);
    nb_frame_header_encode(h, 8, 0, 1, 0, 0);
    assert_int_equal(nb_frame_decode((const char *)h, sizeof(h), &f), -EPROTO);
    /* Garbage text is rejected as soon as a header's worth arrived. */
    assert_int_equal(nb_frame_decode("garbage that is no frame", 24, &f), -EPROTO);
    assert_string_equal(nb_frame_type_name(NB_FRAME_INIT_ERROR), "INIT_ERROR");
    assert_string_equal(nb_frame_type_name(99), "UNKNOWN");
}

/* HEAD metas: the status and the pairs of a good one; every way of being malformed. */
static void test_head_meta(void **state)
{
    (void)state;
    static const char good[] = "201\0Set-Cookie\0a=1\0Set-Cookie\0b=2\0";
    const char *pairs, *name, *value;
    size_t plen, pos = 0;
    assert_int_equal(nb_head_parse(good, sizeof(good) - 1, &pairs, &plen), 201);
    assert_ptr_equal(pairs, good + 4);
    assert_int_equal(plen, sizeof(good) - 1 - 4);
    assert_int_equal(nb_head_next(pairs, plen, &pos, &name, &value), 1);
    assert_string_equal(name, "Set-Cookie");
    assert_string_equal(value, "a=1");
    assert_int_equal(nb_head_next(pairs, plen, &pos, &name, &value), 1);
    assert_string_equal(value, "b=2");
    assert_int_equal(nb_head_next(pairs, plen, &pos, &name, &value), 0);
    assert_int_equal(nb_head_parse("7\0", 2, &pairs, &plen), 7);
    assert_int_equal(plen, 0);

    static const struct {
        const char *m;
        size_t len;
    } bad[] = {
        {"", 0},                /* empty */
        {"200", 3},             /* status not terminated */
        {"\0", 1},              /* no status */
        {"2000\0", 5},          /* four digits */
        {"-20\0", 4},           /* not digits */
        {"20 \0", 4},           /* not digits */
        {"200\0X-A\0", 8},      /* a name without its value */
        {"200\0X-A\0v", 9},     /* the value not terminated */
        {"200\0X-A\0v\0X", 11}, /* a name not terminated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(nb_head_parse(bad[i].m, bad[i].len, &pairs, &plen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_partial_input), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_unknown_type),  cmocka_unit_test(test_head_meta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
