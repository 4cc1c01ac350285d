/*
 * protocol.h: the runtime protocol between the daemon and a runtime shim.
 *
 * The daemon and the shim talk over two pipes: the shim reads the daemon's
 * frames from fd 3 and writes its own to fd 4.  Each frame is a 16-byte
 * header followed by meta then body:
 *
 *   offset 0  u8  type        (enum nb_frame_type)
 *          1  u8  flags       (NB_FRAME_F_*)
 *          2  u16 reserved    (0)
 *          4  u32 id          invocation id, per instance; 0 = the instance itself
 *          8  u32 meta_len    bytes of meta (UTF-8 JSON object, or empty)
 *         12  u32 body_len    bytes of body (raw, never base64)
 *
 * All integers are little-endian.  Meta is JSON so the three sides (C,
 * JavaScript, Python) parse it with their native parsers, except on the hot
 * path of HTTP calls (NB_FRAME_F_HEAD, NB_FRAME_F_FIELDS); bodies stay raw.
 * See docs/internals/runtime-protocol.md for each frame's meta fields.
 */
#ifndef NB_RUNTIME_PROTOCOL_H
#define NB_RUNTIME_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define NB_FRAME_HEADER_SIZE 16
#define NB_FRAME_MAX_META (1u << 20)  /* 1 MiB */
#define NB_FRAME_MAX_BODY (64u << 20) /* 64 MiB */

enum nb_frame_type {
    NB_FRAME_INIT = 1,       /* daemon -> shim: function config (meta) */
    NB_FRAME_INIT_OK = 2,    /* shim -> daemon: handler loaded, initializer done */
    NB_FRAME_INIT_ERROR = 3, /* shim -> daemon: body is the FC error JSON */
    NB_FRAME_INVOKE = 4,     /* daemon -> shim: meta describes the call, body is the payload */
    NB_FRAME_RESULT = 5,     /* shim -> daemon: meta (http: statusCode, headers), body */
    NB_FRAME_ERROR = 6,      /* shim -> daemon: body is the FC error JSON, meta {handled} */
    NB_FRAME_LOG = 7,        /* shim -> daemon: meta {stream, level}, body is text */
};

/* RESULT: more RESULT frames with the same id follow (streamed body). */
#define NB_FRAME_F_MORE 0x01
/*
 * RESULT of an HTTP invocation: the meta is not JSON but NUL-terminated
 * UTF-8 strings, the status code in decimal then name, value pairs.  It
 * spares both sides a JSON document per answer.
 */
#define NB_FRAME_F_HEAD 0x02
/*
 * INVOKE of an HTTP call: the meta is not JSON but NUL-terminated UTF-8
 * strings (requestId, deadline, method, path, url, clientIP, the number of
 * query pairs, the decoded query pairs, then the header pairs); the daemon
 * sends it to the shims that read it (Node.js), see runtime-protocol.md.
 */
#define NB_FRAME_F_FIELDS 0x02

struct nb_frame {
    uint8_t type;
    uint8_t flags;
    uint32_t id;
    const char *meta; /* not NUL-terminated; meta_len bytes */
    uint32_t meta_len;
    const char *body;
    uint32_t body_len;
};

/* Appends an encoded frame to out.  Returns 0 or -ENOBUFS (out's cap) / -EMSGSIZE. */
int nb_frame_encode(struct nb_buf *out, uint8_t type, uint8_t flags, uint32_t id, const void *meta,
                    size_t meta_len, const void *body, size_t body_len);
/* Encodes only the header (for writev-ing meta and body without copies). */
void nb_frame_header_encode(unsigned char hdr[NB_FRAME_HEADER_SIZE], uint8_t type, uint8_t flags,
                            uint32_t id, uint32_t meta_len, uint32_t body_len);

/*
 * Parses one frame from data[0..len).  Returns the number of bytes it
 * occupies (> 0) and fills f with pointers into data; 0 if more bytes are
 * needed; -EMSGSIZE if a length passes the limits; -EPROTO on an unknown type.
 */
long nb_frame_decode(const char *data, size_t len, struct nb_frame *f);

const char *nb_frame_type_name(uint8_t type);

/*
 * Checks a HEAD meta (NB_FRAME_F_HEAD): NUL-terminated strings, a status of
 * 1 to 3 digits, then name, value pairs.  Returns the status (0..999) and
 * sets *pairs, *pairs_len to the pairs ("name\0value\0..."), or returns -1
 * if it is malformed.
 */
int nb_head_parse(const char *meta, size_t len, const char **pairs, size_t *pairs_len);
/*
 * The next pair of pairs[0..len) as nb_head_parse checked them: *pos starts
 * at 0.  Returns 1 and sets name and value (pointers into pairs), or 0 at
 * the end.
 */
int nb_head_next(const char *pairs, size_t len, size_t *pos, const char **name, const char **value);

#endif
