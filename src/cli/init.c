/*
 * init.c: `nubis init DIR [--runtime nodejs20]`: a ready-to-deploy project:
 * index.js (an FC HTTP hello handler), nubis.yaml (service named after DIR,
 * function `hello`, an anonymous GET/POST HTTP trigger) and .nubisignore.
 * Existing files are never overwritten: nothing is written if any exists.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/util.h"
#include "cli/cmd.h"

static const char usage[] = "Usage: nubis init DIR [--runtime nodejs20]\n"
                            "\n"
                            "Creates DIR (if needed) with a hello-world HTTP function: index.js,\n"
                            "nubis.yaml and .nubisignore.  Refuses to overwrite existing files.\n"
                            "Then: nubis deploy DIR\n"
                            "\n"
                            "  -r, --runtime R  nodejs20 (default), nodejs18 or another nodejs*\n";

static const char index_js[] =
    "// An FC-style HTTP function: (request, response, context).\n"
    "exports.handler = (req, resp, context) => {\n"
    "  resp.setHeader('Content-Type', 'application/json');\n"
    "  resp.send(JSON.stringify({message: 'Hello, ' + (req.queries.name || 'world') + '!'}));\n"
    "};\n";

static const char ignore_text[] = "# Files `nubis deploy` leaves out of the code package\n"
                                  "# (gitignore-like globs; .git is always left out).\n"
                                  "*.log\n"
                                  ".DS_Store\n"
                                  "node_modules/.cache/\n";

/* [a-zA-Z_][a-zA-Z0-9_-]{0,127} from a directory name. */
static char *service_name(const char *base)
{
    char out[129];
    size_t n = 0;
    if (!isalpha((unsigned char)base[0]) && base[0] != '_') {
        memcpy(out, "svc-", 4);
        n = 4;
    }
    for (const char *p = base; *p && n < 128; p++)
        out[n++] = isalnum((unsigned char)*p) || *p == '_' || *p == '-' ? *p : '-';
    out[n] = '\0';
    if (n == 0 || (n == 4 && !strcmp(out, "svc-")))
        return nb_xstrdup("hello");
    return nb_xstrdup(out);
}

static int write_new(const char *path, const char *text)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        off += (size_t)n;
    }
    return 0;
}

int nb_cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"runtime", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *runtime = "nodejs20";
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            runtime = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return nb_cli_bad_option("init", c, argv);
        }
    }
    if (optind >= argc)
        return nb_cli_usage_error("init", "missing DIR");
    if (argc - optind > 1)
        return nb_cli_usage_error("init", "unexpected argument '%s'", argv[optind + 1]);
    const char *dir = argv[optind];
    if (strncmp(runtime, "nodejs", 6) || !runtime[6])
        return nb_cli_fail("runtime '%s' is not supported yet (try nodejs20)", runtime);
    for (const char *p = runtime + 6; *p; p++)
        if (!isdigit((unsigned char)*p))
            return nb_cli_fail("runtime '%s' is not supported yet (try nodejs20)", runtime);

    static const char *const files[] = {"index.js", "nubis.yaml", ".nubisignore"};
    for (size_t i = 0; i < NB_ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *p = nb_xasprintf("%s/%s", dir, files[i]);
        struct stat st;
        if (lstat(p, &st) == 0)
            return nb_cli_fail("'%s' already exists; not overwriting it", p);
    }
    int r = nb_mkdir_p(dir, 0755);
    if (r < 0)
        return nb_cli_fail("create '%s': %s", dir, strerror(-r));
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return nb_cli_fail("'%s': %s", dir, strerror(errno));
    const char *base = strrchr(real, '/');
    base = base && base[1] ? base + 1 : "hello";
    _cleanup_free_ char *svc = service_name(base);

    _cleanup_free_ char *yaml = nb_xasprintf("# nubis.yaml: what `nubis deploy` deploys "
                                             "(see `nubis deploy --help`).\n"
                                             "service:\n"
                                             "  name: %s\n"
                                             "functions:\n"
                                             "  hello:\n"
                                             "    runtime: %s\n"
                                             "    handler: index.handler\n"
                                             "    codeUri: ./\n"
                                             "    memorySize: 128\n"
                                             "    timeout: 60\n"
                                             "    triggers:\n"
                                             "      - name: http\n"
                                             "        type: http\n"
                                             "        config:\n"
                                             "          authType: anonymous\n"
                                             "          methods: [GET, POST]\n",
                                             svc, runtime);
    const char *texts[] = {index_js, yaml, ignore_text};
    for (size_t i = 0; i < NB_ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *p = nb_xasprintf("%s/%s", dir, files[i]);
        r = write_new(p, texts[i]);
        if (r < 0)
            return nb_cli_fail("write '%s': %s", p, strerror(-r));
    }
    printf("created %s: index.js, nubis.yaml, .nubisignore (service %s, function hello)\n"
           "next: nubis deploy %s\n",
           dir, svc, dir);
    return 0;
}
