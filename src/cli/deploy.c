/*
 * deploy.c: `nubis deploy [DIR]`: makes the server match DIR/nubis.yaml.
 *
 * Order: validate the whole manifest first (nothing is sent for a bad one),
 * zip every function's codeUri (or take a .zip as is) and upload it (POST
 * /api/v1/code; one upload per distinct code path; uploads alone change no
 * function), then PUT the service, PUT each function with code {checksum},
 * PUT its triggers and DELETE the triggers the manifest no longer lists (a
 * trigger whose type changed is deleted and created again).  PUT creates or
 * updates, so a deploy is idempotent.  Functions absent from the manifest are left alone
 * (`nubis rm` removes them), as FC's own tools do.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/util.h"
#include "cli/client.h"
#include "cli/cmd.h"
#include "cli/manifest.h"
#include "cli/pack.h"

static const char usage[] =
    "Usage: nubis deploy [DIR] [-o json]\n"
    "\n"
    "Deploys the service, functions and triggers described by DIR/nubis.yaml\n"
    "(DIR defaults to the current directory).  Each function's codeUri (default\n"
    "./, relative to DIR) is zipped, skipping .git and what DIR/.nubisignore lists\n"
    "(gitignore-like globs), or, if it names a .zip file, uploaded as is.\n"
    "Triggers no longer in the manifest are deleted.  Prints each HTTP trigger's URL.\n"
    "\n"
    "  -o, --output json  print the deployed resources as JSON\n";

struct code_cache {
    char *path; /* realpath of the codeUri */
    char *checksum;
    size_t size;
};

struct deploy {
    struct nb_client c;
    const char *dir;
    char *dir_real;
    const char *service;
    struct nb_ignore *ig;
    struct code_cache *codes;
    size_t ncodes;
    int json;
    struct nb_err err;
};

/* Zips (or reads) the code at codeUri; the caller owns *zip (len bytes). */
static int load_code(struct deploy *d, const char *fname, const char *real, char **zip, size_t *len,
                     size_t *files)
{
    struct stat st;
    if (stat(real, &st) < 0)
        return nb_err_sys(&d->err, -errno, "functions.%s.codeUri: '%s'", fname, real);
    if (S_ISREG(st.st_mode)) {
        size_t n = strlen(real);
        if (n < 4 || strcmp(real + n - 4, ".zip"))
            return nb_err_set(&d->err, -EINVAL,
                              "functions.%s.codeUri: '%s' is neither a directory nor a .zip file",
                              fname, real);
        *zip = nb_read_file(real, len);
        if (!*zip)
            return nb_err_sys(&d->err, -errno, "read '%s'", real);
        *files = 0;
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return nb_err_set(&d->err, -EINVAL,
                          "functions.%s.codeUri: '%s' is neither a directory nor a .zip file",
                          fname, real);

    /* The ignore file of DIR applies beneath DIR; a code dir elsewhere has its own. */
    size_t dl = strlen(d->dir_real);
    struct nb_ignore *own = NULL;
    const struct nb_ignore *ig = d->ig;
    const char *prefix = "";
    if (!strcmp(real, d->dir_real)) {
        prefix = "";
    } else if (!strncmp(real, d->dir_real, dl) && real[dl] == '/') {
        prefix = real + dl + 1;
    } else {
        own = nb_ignore_load(real, &d->err);
        if (!own)
            return d->err.code;
        ig = own;
    }
    struct nb_pack_result r;
    int rc = nb_pack_dir(real, ig, prefix, &r, &d->err);
    nb_ignore_free(own);
    if (rc)
        return rc;
    *zip = r.zip;
    *len = r.len;
    *files = r.files;
    return 0;
}

/* Uploads the code of one function (once per distinct path); *checksum is borrowed. */
static int upload_code(struct deploy *d, const char *fname, const json_t *fn, const char **checksum)
{
    const char *uri = json_string_value(json_object_get(fn, "codeUri"));
    _cleanup_free_ char *joined =
        uri[0] == '/' ? nb_xstrdup(uri) : nb_xasprintf("%s/%s", d->dir, uri);
    char real[PATH_MAX];
    if (!realpath(joined, real))
        return nb_err_sys(&d->err, -errno, "functions.%s.codeUri: '%s'", fname, joined);
    for (size_t i = 0; i < d->ncodes; i++)
        if (!strcmp(d->codes[i].path, real)) {
            *checksum = d->codes[i].checksum;
            return 0;
        }

    _cleanup_free_ char *zip = NULL;
    size_t len = 0, files = 0;
    int rc = load_code(d, fname, real, &zip, &len, &files);
    if (rc)
        return rc;
    char size[32];
    nb_cli_format_size((double)len, size);
    if (!d->json) {
        if (files)
            fprintf(stderr, "packed %s: %zu files, %s zipped\n", uri, files, size);
        else
            fprintf(stderr, "using %s (%s)\n", uri, size);
    }

    struct nb_request req = {
        .method = "POST",
        .path = "/api/v1/code",
        .content_type = "application/zip",
        .body = zip,
        .body_len = len,
        .progress = !d->json,
    };
    struct nb_response resp;
    nb_response_init(&resp);
    rc = nb_client_do(&d->c, &req, &resp, &d->err);
    if (!rc && (resp.status < 200 || resp.status >= 300))
        rc = nb_client_http_error(&d->c, &resp, &d->err);
    json_t *j = NULL;
    if (!rc) {
        j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
        if (!json_is_string(json_object_get(j, "checksum")))
            rc = nb_err_set(&d->err, -EBADMSG, "upload of '%s': the answer has no checksum", uri);
    }
    nb_response_release(&resp);
    if (rc) {
        json_decref(j);
        return rc;
    }
    d->codes = nb_xrealloc(d->codes, (d->ncodes + 1) * sizeof(*d->codes));
    struct code_cache *cc = &d->codes[d->ncodes++];
    cc->path = nb_xstrdup(real);
    cc->checksum = nb_xstrdup(json_string_value(json_object_get(j, "checksum")));
    cc->size = len;
    json_decref(j);
    *checksum = cc->checksum;
    return 0;
}

static char *trigger_url(struct deploy *d, const char *fname, const json_t *t)
{
    const char *q = json_string_value(json_object_get(t, "qualifier"));
    _cleanup_free_ char *s = nb_client_seg(d->service);
    _cleanup_free_ char *f = nb_client_seg(fname);
    if (q && strcmp(q, "LATEST")) {
        _cleanup_free_ char *qs = nb_client_seg(q);
        return nb_xasprintf("%s/2016-08-15/proxy/%s.%s/%s/", d->c.url, s, qs, f);
    }
    return nb_xasprintf("%s/2016-08-15/proxy/%s/%s/", d->c.url, s, f);
}

/* PUTs the manifest's triggers of one function and deletes the stale ones. */
static int deploy_triggers(struct deploy *d, const char *fname, const json_t *fn, json_t *report)
{
    _cleanup_free_ char *s = nb_client_seg(d->service);
    _cleanup_free_ char *f = nb_client_seg(fname);
    _cleanup_free_ char *base = nb_xasprintf("/api/v1/services/%s/functions/%s/triggers", s, f);
    json_t *want = json_object_get(fn, "triggers");
    json_t *have = NULL;
    int rc = nb_client_list(&d->c, base, "triggers", &have, &d->err);
    if (rc)
        return rc;

    json_t *done = json_array(), *removed = json_array(), *urls = json_array();
    json_object_set_new(report, "triggers", done);
    json_object_set_new(report, "removedTriggers", removed);
    json_object_set_new(report, "urls", urls);

    size_t i;
    json_t *t;
    json_array_foreach(want, i, t)
    {
        const char *tname = json_string_value(json_object_get(t, "name"));
        _cleanup_free_ char *tn = nb_client_seg(tname);
        _cleanup_free_ char *path = nb_xasprintf("%s/%s", base, tn);
        const char *type = json_string_value(json_object_get(t, "type"));
        /* A trigger's type cannot change in place: replace it. */
        size_t k;
        json_t *old;
        json_array_foreach(have, k, old)
        {
            const char *on = json_string_value(json_object_get(old, "triggerName"));
            const char *ot = json_string_value(json_object_get(old, "triggerType"));
            if (on && ot && !strcmp(on, tname) && strcmp(ot, type)) {
                rc = nb_client_json(&d->c, "DELETE", path, NULL, NULL, NULL, &d->err);
                if (rc)
                    goto out;
            }
        }
        json_t *body = nb_manifest_trigger_body(t), *ans = NULL;
        rc = nb_client_json(&d->c, "PUT", path, NULL, body, &ans, &d->err);
        json_decref(body);
        if (rc) {
            char msg[sizeof(d->err.msg)];
            snprintf(msg, sizeof(msg), "%s", d->err.msg);
            nb_err_set(&d->err, rc, "trigger '%s' of '%s/%s': %s", tname, d->service, fname, msg);
            goto out;
        }
        json_array_append_new(done, ans ? ans : json_object());
        if (!strcmp(type, "http")) {
            char *url = trigger_url(d, fname, t);
            json_array_append_new(urls, json_string(url));
            if (!d->json)
                printf("  trigger %s (http): %s\n", tname, url);
            free(url);
        } else if (!d->json) {
            const char *cron =
                json_string_value(json_object_get(json_object_get(t, "config"), "cronExpression"));
            printf("  trigger %s (timer): %s\n", tname, cron ? cron : "");
        }
    }

    json_array_foreach(have, i, t)
    {
        const char *tname = json_string_value(json_object_get(t, "triggerName"));
        if (!tname)
            continue;
        int keep = 0;
        size_t k;
        json_t *w;
        json_array_foreach(want, k, w)
        {
            keep |= !strcmp(json_string_value(json_object_get(w, "name")), tname);
        }
        if (keep)
            continue;
        _cleanup_free_ char *tn = nb_client_seg(tname);
        _cleanup_free_ char *path = nb_xasprintf("%s/%s", base, tn);
        rc = nb_client_json(&d->c, "DELETE", path, NULL, NULL, NULL, &d->err);
        if (rc)
            goto out;
        json_array_append_new(removed, json_string(tname));
        if (!d->json)
            printf("  trigger %s: removed (not in the manifest)\n", tname);
    }
out:
    json_decref(have);
    return rc;
}

static int deploy_function(struct deploy *d, const char *fname, const json_t *fn, json_t *report)
{
    const char *checksum;
    int rc = upload_code(d, fname, fn, &checksum);
    if (rc)
        return rc;
    _cleanup_free_ char *s = nb_client_seg(d->service);
    _cleanup_free_ char *f = nb_client_seg(fname);
    _cleanup_free_ char *path = nb_xasprintf("/api/v1/services/%s/functions/%s", s, f);
    json_t *body = nb_manifest_function_body(fname, fn, checksum), *ans = NULL;
    rc = nb_client_json(&d->c, "PUT", path, NULL, body, &ans, &d->err);
    json_decref(body);
    if (rc) {
        char msg[sizeof(d->err.msg)];
        snprintf(msg, sizeof(msg), "%s", d->err.msg);
        return nb_err_set(&d->err, rc, "function '%s/%s': %s", d->service, fname, msg);
    }
    json_object_set_new(report, "function", ans ? ans : json_object());
    if (!d->json) {
        json_t *mem = json_object_get(ans, "memorySize"), *to = json_object_get(ans, "timeout");
        printf("function %s/%s: deployed (%s", d->service, fname,
               json_string_value(json_object_get(fn, "runtime")));
        if (json_is_integer(mem))
            printf(", %lld MB", (long long)json_integer_value(mem));
        if (json_is_integer(to))
            printf(", timeout %lld s", (long long)json_integer_value(to));
        printf(", code %.12s)\n", checksum);
    }
    return deploy_triggers(d, fname, fn, report);
}

int nb_cmd_deploy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    struct deploy d = {.dir = "."};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (nb_cli_parse_output(optarg, &d.json))
                return nb_cli_usage_error("deploy", "-o takes json or text");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("deploy", c, argv);
        }
    }
    if (argc - optind > 1)
        return nb_cli_usage_error("deploy", "unexpected argument '%s'", argv[optind + 1]);
    if (optind < argc)
        d.dir = argv[optind];

    json_t *m = NULL, *report = NULL;
    char *s = NULL, *spath = NULL;
    int rc = nb_manifest_load(d.dir, &m, &d.err);
    if (rc)
        return nb_cli_fail_err(&d.err);
    char real[PATH_MAX];
    if (!realpath(d.dir, real)) {
        json_decref(m);
        return nb_cli_fail("'%s': %s", d.dir, strerror(errno));
    }
    d.dir_real = nb_xstrdup(real);
    d.ig = nb_ignore_load(d.dir, &d.err);
    if (!d.ig || (rc = nb_client_init(&d.c, &d.err))) {
        rc = -1;
        goto out;
    }
    d.service = json_string_value(json_object_get(json_object_get(m, "service"), "name"));

    /* Package and upload all code first: a bad codeUri changes nothing on the server. */
    const char *fname;
    json_t *fn;
    json_object_foreach(json_object_get(m, "functions"), fname, fn)
    {
        const char *checksum;
        if ((rc = upload_code(&d, fname, fn, &checksum)))
            goto out;
    }

    report = json_object();
    s = nb_client_seg(d.service);
    spath = nb_xasprintf("/api/v1/services/%s", s);
    json_t *sbody = nb_manifest_service_body(m), *sans = NULL;
    rc = nb_client_json(&d.c, "PUT", spath, NULL, sbody, &sans, &d.err);
    json_decref(sbody);
    if (rc)
        goto out;
    json_object_set_new(report, "service", sans ? sans : json_object());
    if (!d.json)
        printf("service %s: deployed\n", d.service);

    json_t *fns = json_array();
    json_object_set_new(report, "functions", fns);
    json_object_foreach(json_object_get(m, "functions"), fname, fn)
    {
        json_t *fr = json_object();
        json_array_append_new(fns, fr);
        if ((rc = deploy_function(&d, fname, fn, fr)))
            goto out;
    }
    if (d.json)
        nb_cli_print_json(report);
out:
    if (rc)
        nb_cli_fail_err(&d.err);
    free(spath);
    free(s);
    json_decref(report);
    json_decref(m);
    nb_ignore_free(d.ig);
    for (size_t i = 0; i < d.ncodes; i++) {
        free(d.codes[i].path);
        free(d.codes[i].checksum);
    }
    free(d.codes);
    free(d.dir_real);
    if (d.c.curl)
        nb_client_release(&d.c);
    return rc ? 1 : 0;
}
