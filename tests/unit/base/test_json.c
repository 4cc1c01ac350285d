/*
 * test_json.c: JSON strings written without jansson objects (base/json.c)
 * are byte for byte what json_dumps writes for the same valid UTF-8
 * string (control characters, quotes, backslashes, multibyte, long strings
 * whose pieces meet inside a sequence); bytes that are not UTF-8 and NULs
 * become U+FFFD each; and the UTF-8 check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

/* json_dumps of the string s[0..n) (valid UTF-8). */
static char *ref(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    assert_non_null(j);
    char *out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

static void same_as_jansson(const char *s, size_t n)
{
    struct nb_buf b;
    nb_buf_init(&b, 1 << 20);
    assert_int_equal(nb_json_append_string(&b, s, n), 0);
    char *want = ref(s, n);
    assert_string_equal(b.data, want);
    free(want);
    nb_buf_release(&b);
}

static void test_escapes_like_jansson(void **state)
{
    (void)state;
    char ctl[32];
    for (int i = 1; i < 32; i++)
        ctl[i - 1] = (char)i;
    same_as_jansson(ctl, 31); /* \b \f \n \r \t short, the rest \u00XX upper case */
    same_as_jansson("\"quoted\" \\back\\ /slash/ \x7f", 25);
    same_as_jansson("", 0);
    same_as_jansson("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15);
}

static void test_long_strings_split_nowhere(void **state)
{
    (void)state;
    /* 4-, 3- and 2-byte sequences at every offset across the 256-byte pieces */
    const char *seqs[] = {"\xf0\x9f\x98\x80", "\xe2\x82\xac", "\xc3\xa9"};
    for (size_t k = 0; k < 3; k++) {
        for (size_t lead = 250; lead < 260; lead++) {
            char s[600];
            memset(s, 'a', lead);
            size_t n = lead;
            for (int rep = 0; rep < 60; rep++) {
                size_t l = strlen(seqs[k]);
                memcpy(s + n, seqs[k], l);
                n += l;
            }
            same_as_jansson(s, n);
        }
    }
}

static void test_invalid_bytes_become_replacement_chars(void **state)
{
    (void)state;
    char out[64];
    /* a lone continuation byte, a cut sequence, an overlong '/', a surrogate, a NUL */
    const char in[] = "a\x80"
                      "b\xe2\x82"
                      "c\xc0\xaf"
                      "d\xed\xa0\x80"
                      "e\0f";
    char *end = nb_json_escape(out, in, sizeof(in) - 1);
    const char want[] = "a\xef\xbf\xbd"
                        "b\xef\xbf\xbd\xef\xbf\xbd"
                        "c\xef\xbf\xbd\xef\xbf\xbd"
                        "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                        "e\xef\xbf\xbd"
                        "f";
    assert_int_equal((size_t)(end - out), sizeof(want) - 1);
    assert_memory_equal(out, want, sizeof(want) - 1);
    /* the bound holds for the worst case */
    char ctl[8] = {1, 2, 3, 4, 5, 6, 7, 0x0b}, big[NB_JSON_ESCAPE_MAX(8)];
    assert_int_equal(nb_json_escape(big, ctl, 8) - big, NB_JSON_ESCAPE_MAX(8));
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(nb_utf8_valid("plain", 5));
    assert_true(nb_utf8_valid("\xf0\x9f\x98\x80\xe2\x82\xac", 7));
    assert_true(nb_utf8_valid("", 0));
    assert_false(nb_utf8_valid("a\0b", 3));
    assert_false(nb_utf8_valid("\xe2\x82", 2));
    assert_false(nb_utf8_valid("\xc0\xaf", 2));
    assert_false(nb_utf8_valid("\xed\xa0\x80", 3));
    assert_false(nb_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_int_equal(nb_utf8_seq("\xe2\x82\xac", 3), 3);
    assert_int_equal(nb_utf8_seq("\xe2\x82\xac", 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_like_jansson),
        cmocka_unit_test(test_long_strings_split_nowhere),
        cmocka_unit_test(test_invalid_bytes_become_replacement_chars),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
