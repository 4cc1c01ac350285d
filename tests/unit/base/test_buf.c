/*
 * test_buf.c: the capped buffer (base/buf.c): appends up to the cap and not
 * one byte past it, whether or not the room was there already (the appends'
 * fast path), the NUL after the data, reserve, consume and steal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* Byte by byte and in pieces, to the cap exactly: then every append fails and changes nothing. */
static void test_cap(void **state)
{
    (void)state;
    for (size_t max = 0; max < 300; max += 7) {
        struct nb_buf b;
        nb_buf_init(&b, max);
        char want[300];
        for (size_t i = 0; i < max; i++) {
            want[i] = (char)('a' + i % 26);
            int r = i % 3 ? nb_buf_appendc(&b, want[i]) : nb_buf_append(&b, want + i, 1);
            assert_int_equal(r, 0);
            assert_int_equal(b.len, i + 1);
            assert_true(b.cap > b.len);
            assert_int_equal(b.data[b.len], '\0');
        }
        assert_int_equal(nb_buf_appendc(&b, 'x'), -ENOBUFS);
        assert_int_equal(nb_buf_append(&b, "xy", 2), -ENOBUFS);
        assert_int_equal(nb_buf_appends(&b, "z"), -ENOBUFS);
        assert_int_equal(b.len, max);
        if (max)
            assert_memory_equal(b.data, want, max);
        assert_int_equal(nb_buf_append(&b, "", 0), 0);
        nb_buf_release(&b);
    }
}

/* An append that would pass the cap fails whole, even when the allocation could hold it. */
static void test_room_is_not_cap(void **state)
{
    (void)state;
    struct nb_buf b;
    nb_buf_init(&b, 10);
    assert_int_equal(nb_buf_appends(&b, "12345678"), 0);
    assert_true(b.cap > 10);                               /* the allocation has room ... */
    assert_int_equal(nb_buf_appends(&b, "abc"), -ENOBUFS); /* ... the cap has not */
    assert_string_equal(b.data, "12345678");
    assert_int_equal(nb_buf_appends(&b, "ab"), 0);
    assert_string_equal(b.data, "12345678ab");
    assert_int_equal(nb_buf_appendc(&b, 'c'), -ENOBUFS);
    nb_buf_release(&b);
}

static void test_reserve(void **state)
{
    (void)state;
    struct nb_buf b;
    nb_buf_init(&b, 1000);
    assert_int_equal(nb_buf_reserve(&b, 600), 0);
    assert_true(b.cap > 600);
    char *before = b.data;
    for (int i = 0; i < 600; i++)
        assert_int_equal(nb_buf_appendc(&b, 'q'), 0);
    assert_ptr_equal(b.data, before); /* no reallocation on the way */
    assert_int_equal(nb_buf_reserve(&b, 401), -ENOBUFS);
    assert_int_equal(nb_buf_reserve(&b, 400), 0);
    assert_int_equal(b.len, 600);
    nb_buf_release(&b);
}

static void test_consume_and_steal(void **state)
{
    (void)state;
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_buf_printf(&b, "%s-%d", "abc", 42), 0);
    nb_buf_consume(&b, 2);
    assert_string_equal(b.data, "c-42");
    size_t n;
    char *s = nb_buf_steal(&b, &n);
    assert_string_equal(s, "c-42");
    assert_int_equal(n, 4);
    assert_int_equal(b.len, 0);
    free(s);
    s = nb_buf_steal(&b, &n); /* never NULL */
    assert_non_null(s);
    assert_int_equal(n, 0);
    free(s);
    nb_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_room_is_not_cap),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_consume_and_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
