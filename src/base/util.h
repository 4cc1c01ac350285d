/*
 * util.h: small shared helpers: clocks, random ids, base64, sha256, HMAC,
 * URL decoding, file helpers.  Crypto is OpenSSL's; nothing here is
 * hand-rolled cryptography.
 */
#ifndef NB_BASE_UTIL_H
#define NB_BASE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in nanoseconds. */
uint64_t nb_now_ns(void);
/* Wall clock in milliseconds since the epoch. */
int64_t nb_wall_ms(void);
/* Formats a wall time (ms since the epoch) as RFC 3339 UTC with ms: out needs 32 bytes. */
void nb_format_time(int64_t wall_ms, char out[32]);

/*
 * Hot-path formatting without printf (whose setup costs more than these
 * strings): nb_fmt_u64 writes v in decimal plus a NUL into out (21 bytes
 * suffice) and returns the digits written; nb_copy_cut copies src into
 * dst[cap], cut to fit, and returns the length copied.
 */
size_t nb_fmt_u64(char *out, uint64_t v);
size_t nb_copy_cut(char *dst, size_t cap, const char *src);
/* "service/function" into out[cap]; returns its length, or -1 if it does not fit. */
int nb_fn_key(char *out, size_t cap, const char *service, const char *function);

/* Fills buf with cryptographically random bytes. */
void nb_random_bytes(void *buf, size_t len);
/* Writes a random UUID v4 ("1f6e...-...") into out (37 bytes with the NUL). */
void nb_uuid(char out[37]);

/* base64 (standard alphabet, padded).  Returned strings are NUL-terminated, caller frees. */
char *nb_base64_encode(const void *data, size_t len);
/* Returns the decoded bytes (caller frees) and their length, or NULL if not valid base64. */
unsigned char *nb_base64_decode(const char *s, size_t slen, size_t *outlen);

/* data as 2 * len lowercase hex chars plus NUL into out. */
void nb_hex(const void *data, size_t len, char *out);
/* sha256 of data as 64 lowercase hex chars plus NUL. */
void nb_sha256_hex(const void *data, size_t len, char out[65]);
/* HMAC-SHA256; out receives 32 bytes. */
void nb_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                    unsigned char out[32]);
/* Constant-time comparison; returns 1 if equal. */
int nb_secure_equal(const void *a, const void *b, size_t len);

/*
 * Percent-decodes src[0..len) into a new string (caller frees).  '+' is kept
 * as is unless plus_as_space.  Returns NULL on a malformed escape or an
 * embedded NUL.
 */
char *nb_url_decode(const char *src, size_t len, int plus_as_space);
/*
 * Walks a raw query ("a=1&b=%20&c"): each call decodes the next non-empty
 * "name[=value]" into *k and *v (the caller frees both; a missing value is
 * "") and returns 1; returns 0 at the end and -EINVAL on a malformed escape
 * (*k and *v NULL then; the next call goes on after that pair).  *pos starts
 * at 0.
 */
int nb_query_next(const char *query, size_t *pos, int plus_as_space, char **k, char **v);
/* Percent-encodes everything but unreserved characters (RFC 3986); caller frees. */
char *nb_url_encode(const char *src, size_t len);

/* Reads a whole file (caller frees); returns NULL and sets errno on failure. */
char *nb_read_file(const char *path, size_t *len);
/* Writes data to path atomically (tmp + fsync + rename) with mode; 0 or -errno. */
int nb_write_file_atomic(const char *path, const void *data, size_t len, int mode);
/* mkdir -p with mode; 0 or -errno. */
int nb_mkdir_p(const char *path, int mode);
/* rm -rf; 0 or -errno.  Does not follow symlinks. */
int nb_rm_rf(const char *path);

#endif
