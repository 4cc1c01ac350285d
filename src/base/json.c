/*
 * json.c: JSON strings without jansson objects (see json.h).
 */
#include "base/json.h"

#include <stdint.h>
#include <string.h>

size_t nb_utf8_seq(const void *str, size_t n)
{
    const unsigned char *s = str;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned cp, min;
    if ((c & 0xe0) == 0xc0)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int nb_utf8_valid(const void *str, size_t n)
{
    const unsigned char *s = str;
    for (size_t i = 0; i < n;) {
        if (s[i] == 0)
            return 0;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = nb_utf8_seq(s + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}

/* Bytes a JSON string holds as they are: printable ASCII but the quote and backslash. */
static const unsigned char plain[256] = {
    [0x20 ... '"' - 1] = 1, ['"' + 1 ... '\\' - 1] = 1, ['\\' + 1 ... 0x7f] = 1};

char *nb_json_escape(char *p, const void *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = str;
    for (size_t i = 0; i < n;) {
        /* a run that needs no escape, copied at once */
        size_t j = i;
        while (j < n && plain[u[j]])
            j++;
        if (j > i) {
            memcpy(p, u + i, j - i);
            p += j - i;
            i = j;
            continue;
        }
        unsigned c = u[i];
        size_t l = c >= 0x80 ? nb_utf8_seq(u + i, n - i) : 0;
        if (l > 0) {
            memcpy(p, u + i, l);
            p += l;
            i += l;
            continue;
        }
        i++;
        char e = 0;
        switch (c) {
        case '"':
        case '\\':
            e = (char)c;
            break;
        case '\b':
            e = 'b';
            break;
        case '\f':
            e = 'f';
            break;
        case '\n':
            e = 'n';
            break;
        case '\r':
            e = 'r';
            break;
        case '\t':
            e = 't';
            break;
        }
        if (e) {
            *p++ = '\\';
            *p++ = e;
        } else if (c == 0 || c >= 0x80) {
            memcpy(p, "\xef\xbf\xbd", 3); /* NUL or not UTF-8: U+FFFD */
            p += 3;
        } else {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 0xf];
            p += 6;
        }
    }
    return p;
}

int nb_json_append_string(struct nb_buf *b, const void *str, size_t n)
{
    const unsigned char *s = str;
    char out[NB_JSON_ESCAPE_MAX(256)];
    int r = nb_buf_appendc(b, '"');
    for (size_t i = 0; i < n && r == 0;) {
        /* in pieces that do not split a UTF-8 sequence */
        size_t end = n - i > 256 ? i + 256 : n;
        for (int k = 0; k < 3 && end < n && (s[end] & 0xc0) == 0x80; k++)
            end--;
        r = nb_buf_append(b, out, (size_t)(nb_json_escape(out, s + i, end - i) - out));
        i = end;
    }
    return r ? r : nb_buf_appendc(b, '"');
}
