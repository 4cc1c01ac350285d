/*
 * ipacl.c: IP addresses, CIDR blocks and allow/deny lists (policy.h).
 *
 * Addresses are parsed with inet_pton.  An IPv4-mapped IPv6 address
 * ("::ffff:10.1.2.3", what a dual-stack socket reports for an IPv4 peer)
 * counts as its IPv4 address, so one IPv4 rule covers both listeners.
 */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

int nb_ip_parse(const char *s, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (s == NULL)
        return -EINVAL;
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = 4;
        return 0;
    }
    /* a zone ("fe80::1%eth0") is not part of the address */
    char buf[64];
    size_t n = strcspn(s, "%");
    if (n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    uint8_t a6[16];
    if (inet_pton(AF_INET6, buf, a6) != 1)
        return -EINVAL;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
        memcpy(addr, a6 + 12, 4);
        *family = 4;
        return 0;
    }
    memcpy(addr, a6, 16);
    *family = 6;
    return 0;
}

int nb_cidr_parse(const char *s, struct nb_cidr *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL || strlen(s) >= 64)
        return -EINVAL;
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", s);
    char *slash = strchr(buf, '/');
    int bits = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || b < 0 || b > 128)
            return -EINVAL;
        bits = (int)b;
    }
    if (nb_ip_parse(buf, &out->family, out->addr) < 0)
        return -EINVAL;
    int max = out->family == 4 ? 32 : 128;
    /* "::ffff:10.0.0.0/104" is the IPv4 block 10.0.0.0/8 */
    if (bits > 32 && out->family == 4 && strchr(buf, ':'))
        bits -= 96;
    if (bits > max)
        return -EINVAL;
    out->bits = bits < 0 ? max : bits;
    return 0;
}

int nb_cidr_match(const struct nb_cidr *c, int family, const uint8_t addr[16])
{
    if (c->family != family)
        return 0;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

int nb_cidr_list_parse(const json_t *v, const char *field, struct nb_cidr **out, size_t *n,
                       struct nb_err *err)
{
    *out = NULL;
    *n = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > 1024)
        return nb_err_set(err, -EINVAL, "%s must be an array of at most 1024 CIDR blocks", field);
    struct nb_cidr *list = nb_xcalloc(json_array_size(v) + 1, sizeof(*list));
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (nb_cidr_parse(s, &list[i]) < 0) {
            free(list);
            return nb_err_set(err, -EINVAL,
                              "%s[%zu] '%s' is not an IP address or CIDR block (\"10.0.0.0/8\", "
                              "\"2001:db8::/32\")",
                              field, i, s ? s : "(not a string)");
        }
    }
    *out = list;
    *n = json_array_size(v);
    return 0;
}

int nb_cidr_list_match(const struct nb_cidr *list, size_t n, const char *ip)
{
    int family;
    uint8_t addr[16];
    if (n == 0 || nb_ip_parse(ip, &family, addr) < 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (nb_cidr_match(&list[i], family, addr))
            return 1;
    return 0;
}

int nb_ipacl_parse(const json_t *v, const char *field, struct nb_ipacl *out, struct nb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return nb_err_set(err, -EINVAL,
                          "%s must be an object {\"allow\": [CIDR...], \"deny\": [CIDR...]}",
                          field);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (strcmp(key, "allow") != 0 && strcmp(key, "deny") != 0) {
            return nb_err_set(err, -EINVAL, "%s: unknown key '%s' (use allow and deny)", field,
                              key);
        }
    }
    char sub[160];
    snprintf(sub, sizeof(sub), "%s.allow", field);
    if (nb_cidr_list_parse(json_object_get(v, "allow"), sub, &out->allow, &out->nallow, err) < 0)
        return -EINVAL;
    snprintf(sub, sizeof(sub), "%s.deny", field);
    if (nb_cidr_list_parse(json_object_get(v, "deny"), sub, &out->deny, &out->ndeny, err) < 0) {
        nb_ipacl_release(out);
        return -EINVAL;
    }
    return 0;
}

void nb_ipacl_release(struct nb_ipacl *acl)
{
    free(acl->allow);
    free(acl->deny);
    memset(acl, 0, sizeof(*acl));
}

int nb_ipacl_empty(const struct nb_ipacl *acl)
{
    return acl->nallow == 0 && acl->ndeny == 0;
}

int nb_ipacl_allows(const struct nb_ipacl *acl, const char *ip)
{
    if (nb_ipacl_empty(acl))
        return 1;
    int family;
    uint8_t addr[16];
    if (nb_ip_parse(ip, &family, addr) < 0)
        return 0;
    for (size_t i = 0; i < acl->ndeny; i++)
        if (nb_cidr_match(&acl->deny[i], family, addr))
            return 0;
    if (acl->nallow == 0)
        return 1;
    for (size_t i = 0; i < acl->nallow; i++)
        if (nb_cidr_match(&acl->allow[i], family, addr))
            return 1;
    return 0;
}
