/*
 * json.h: JSON text written straight into memory, for the hot paths that
 * must not build jansson objects (the INVOKE meta of an HTTP trigger, log
 * lines).  The output is what jansson's json_dumps writes for the same
 * string, so readers cannot tell the two apart; jansson stays the parser.
 */
#ifndef NB_BASE_JSON_H
#define NB_BASE_JSON_H

#include <stddef.h>

#include "base/buf.h"

/* Length of the valid UTF-8 sequence at s[0..n) (n > 0), or 0 if none starts there. */
size_t nb_utf8_seq(const void *s, size_t n);
/* 1 if s[0..n) is valid UTF-8 without NUL bytes. */
int nb_utf8_valid(const void *s, size_t n);

/*
 * Writes at p the inside of the JSON string of s[0..n) (no quotes) as
 * json_dumps writes it: '"' '\\' \b \f \n \r \t as short escapes, other
 * bytes below 0x20 as \u00XX (upper-case hex), the rest as is ('/' and 0x7f
 * included).  A byte that is not part of valid UTF-8, and a NUL, become
 * U+FFFD each.  Writes at most NB_JSON_ESCAPE_MAX(n) bytes; returns the end.
 */
#define NB_JSON_ESCAPE_MAX(n) (6 * (n))
char *nb_json_escape(char *p, const void *s, size_t n);

/* Appends s[0..n) as a quoted JSON string (escaped as above).  0 or -ENOBUFS. */
int nb_json_append_string(struct nb_buf *b, const void *s, size_t n);

#endif
