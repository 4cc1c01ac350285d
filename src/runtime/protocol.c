/*
 * protocol.c: encoding and decoding of runtime protocol frames (see
 * protocol.h and docs/internals/runtime-protocol.md).
 *
 * Pure functions over byte buffers: no I/O, no allocation beyond the output
 * buffer, so the instance code (instance.c), the tests and the fuzzers share
 * them.  A frame is a 16-byte little-endian header, then meta, then body.
 */
#include "runtime/protocol.h"

#include <errno.h>
#include <string.h>

static void put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void nb_frame_header_encode(unsigned char hdr[NB_FRAME_HEADER_SIZE], uint8_t type, uint8_t flags,
                            uint32_t id, uint32_t meta_len, uint32_t body_len)
{
    hdr[0] = type;
    hdr[1] = flags;
    hdr[2] = 0;
    hdr[3] = 0;
    put_u32le(hdr + 4, id);
    put_u32le(hdr + 8, meta_len);
    put_u32le(hdr + 12, body_len);
}

/*
 * All or nothing: either the whole frame is appended or out is unchanged.
 * -EMSGSIZE when meta or body pass the protocol limits, -ENOBUFS when out's
 * cap cannot take the frame.
 */
int nb_frame_encode(struct nb_buf *out, uint8_t type, uint8_t flags, uint32_t id, const void *meta,
                    size_t meta_len, const void *body, size_t body_len)
{
    if (meta_len > NB_FRAME_MAX_META || body_len > NB_FRAME_MAX_BODY)
        return -EMSGSIZE;
    size_t total = NB_FRAME_HEADER_SIZE + meta_len + body_len;
    if (total > out->max - out->len)
        return -ENOBUFS;
    unsigned char hdr[NB_FRAME_HEADER_SIZE];
    nb_frame_header_encode(hdr, type, flags, id, (uint32_t)meta_len, (uint32_t)body_len);
    /* Cannot fail now: the room was checked above. */
    nb_buf_append(out, hdr, sizeof(hdr));
    nb_buf_append(out, meta, meta_len);
    nb_buf_append(out, body, body_len);
    return 0;
}

static int type_known(uint8_t type)
{
    return type >= NB_FRAME_INIT && type <= NB_FRAME_LOG;
}

long nb_frame_decode(const char *data, size_t len, struct nb_frame *f)
{
    if (len < NB_FRAME_HEADER_SIZE)
        return 0;
    const unsigned char *p = (const unsigned char *)data;
    if (!type_known(p[0]))
        return -EPROTO;
    uint32_t meta_len = get_u32le(p + 8);
    uint32_t body_len = get_u32le(p + 12);
    if (meta_len > NB_FRAME_MAX_META || body_len > NB_FRAME_MAX_BODY)
        return -EMSGSIZE;
    size_t total = NB_FRAME_HEADER_SIZE + (size_t)meta_len + body_len;
    if (len < total)
        return 0;
    f->type = p[0];
    f->flags = p[1];
    f->id = get_u32le(p + 4);
    f->meta = data + NB_FRAME_HEADER_SIZE;
    f->meta_len = meta_len;
    f->body = f->meta + meta_len;
    f->body_len = body_len;
    return (long)total;
}

int nb_head_parse(const char *meta, size_t len, const char **pairs, size_t *pairs_len)
{
    if (len == 0 || meta[len - 1] != '\0')
        return -1;
    size_t slen = strlen(meta), nul = 0;
    if (slen == 0 || slen > 3 || strspn(meta, "0123456789") != slen)
        return -1;
    for (size_t i = slen + 1; i < len; i++)
        nul += meta[i] == '\0';
    if (nul % 2)
        return -1;
    int status = 0;
    for (size_t i = 0; i < slen; i++)
        status = status * 10 + (meta[i] - '0');
    *pairs = meta + slen + 1;
    *pairs_len = len - slen - 1;
    return status;
}

int nb_head_next(const char *pairs, size_t len, size_t *pos, const char **name, const char **value)
{
    if (*pos >= len)
        return 0;
    *name = pairs + *pos;
    *value = *name + strlen(*name) + 1;
    *pos = (size_t)(*value + strlen(*value) + 1 - pairs);
    return 1;
}

const char *nb_frame_type_name(uint8_t type)
{
    switch (type) {
    case NB_FRAME_INIT:
        return "INIT";
    case NB_FRAME_INIT_OK:
        return "INIT_OK";
    case NB_FRAME_INIT_ERROR:
        return "INIT_ERROR";
    case NB_FRAME_INVOKE:
        return "INVOKE";
    case NB_FRAME_RESULT:
        return "RESULT";
    case NB_FRAME_ERROR:
        return "ERROR";
    case NB_FRAME_LOG:
        return "LOG";
    default:
        return "UNKNOWN";
    }
}
