/*
 * init.c: `nubis init DIR [--runtime R] [--style S]`: a ready-to-deploy
 * project: a hello-world function in the runtime and handler style asked for
 * (FC by default; Lambda, GCF, OpenFaaS; see docs/runtimes.md), nubis.yaml
 * (service named after DIR, function `hello`, handlerType when not FC, an
 * anonymous GET/POST HTTP trigger) and .nubisignore.  Every template answers
 * {"message":"Hello, <name>!"} (name from ?name=, "world" otherwise).
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

static const char usage[] =
    "Usage: nubis init DIR [--runtime nodejs20|python3|custom] [--style fc|lambda|gcf|openfaas]\n"
    "\n"
    "Creates DIR (if needed) with a hello-world HTTP function, nubis.yaml and\n"
    ".nubisignore.  Refuses to overwrite existing files.\n"
    "Then: nubis deploy DIR\n"
    "\n"
    "  -r, --runtime R  nodejs20 (default) or another nodejs*, python3 (or python3.9..3.12),\n"
    "                   custom (an executable `bootstrap` serving HTTP on $FC_SERVER_PORT)\n"
    "  -s, --style S    handler style: fc (default), lambda (Node.js, Python),\n"
    "                   gcf or openfaas (Node.js)\n";

/* ---- templates: one file each (plus bootstrap's server for custom) */

static const char node_fc[] =
    "// An FC-style HTTP function: (request, response, context).\n"
    "exports.handler = (req, resp, context) => {\n"
    "  resp.setHeader('Content-Type', 'application/json');\n"
    "  resp.send(JSON.stringify({message: 'Hello, ' + (req.queries.name || 'world') + '!'}));\n"
    "};\n";

static const char node_lambda[] =
    "// An AWS Lambda-style function: async (event, context).  Over the HTTP trigger the\n"
    "// event is an API Gateway HTTP API (payload 2.0) event; `nubis invoke` sends JSON.\n"
    "exports.handler = async (event, context) => {\n"
    "  const q = event.queryStringParameters || {};\n"
    "  const name = q.name || event.name || 'world';\n"
    "  return {\n"
    "    statusCode: 200,\n"
    "    headers: {'Content-Type': 'application/json'},\n"
    "    body: JSON.stringify({message: `Hello, ${name}!`}),\n"
    "  };\n"
    "};\n";

static const char node_gcf[] =
    "// A Google Cloud Functions-style HTTP function: (req, res), Express-like.\n"
    "exports.handler = (req, res) => {\n"
    "  const name = req.query.name || (req.body && req.body.name) || 'world';\n"
    "  res.status(200).json({message: `Hello, ${name}!`});\n"
    "};\n";

static const char node_openfaas[] =
    "'use strict'\n"
    "// An OpenFaaS-style function (the node18 template's handler.js).\n"
    "module.exports = async (event, context) => {\n"
    "  const name = (event.query && event.query.name) || (event.body && event.body.name) || "
    "'world';\n"
    "  return context\n"
    "    .status(200)\n"
    "    .headers({'Content-Type': 'application/json'})\n"
    "    .succeed({message: `Hello, ${name}!`});\n"
    "};\n";

static const char py_fc[] =
    "# An FC-style Python HTTP function: a WSGI app (a Flask app works too:\n"
    "# `def handler(environ, start_response): return app(environ, start_response)`).\n"
    "import json\n"
    "from urllib.parse import parse_qs\n"
    "\n"
    "\n"
    "def handler(environ, start_response):\n"
    "    name = parse_qs(environ.get(\"QUERY_STRING\", \"\")).get(\"name\", [\"world\"])[0]\n"
    "    body = json.dumps({\"message\": \"Hello, %s!\" % name}, separators=(\",\", \":\"))\n"
    "    start_response(\"200 OK\", [(\"Content-Type\", \"application/json\")])\n"
    "    return [body.encode()]\n";

static const char py_lambda[] =
    "# An AWS Lambda-style Python function.  Over the HTTP trigger the event is an\n"
    "# API Gateway HTTP API (payload 2.0) event; `nubis invoke` sends JSON.\n"
    "import json\n"
    "\n"
    "\n"
    "def lambda_handler(event, context):\n"
    "    q = event.get(\"queryStringParameters\") or {}\n"
    "    name = q.get(\"name\") or event.get(\"name\") or \"world\"\n"
    "    return {\n"
    "        \"statusCode\": 200,\n"
    "        \"headers\": {\"Content-Type\": \"application/json\"},\n"
    "        \"body\": json.dumps({\"message\": \"Hello, %s!\" % name}, separators=(\",\", "
    "\":\")),\n"
    "    }\n";

static const char custom_bootstrap[] =
    "#!/bin/sh\n"
    "# FC custom runtime: this executable starts an HTTP server on $FC_SERVER_PORT (9000).\n"
    "exec /usr/bin/python3 -u server.py\n";

static const char custom_server[] =
    "# The HTTP server the bootstrap starts: any language works, this one is Python.\n"
    "# HTTP triggers are proxied as is; `nubis invoke` arrives as POST /invoke.\n"
    "import json\n"
    "import os\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "from urllib.parse import parse_qs, urlsplit\n"
    "\n"
    "\n"
    "class Handler(BaseHTTPRequestHandler):\n"
    "    protocol_version = \"HTTP/1.1\"\n"
    "\n"
    "    def answer(self):\n"
    "        n = int(self.headers.get(\"Content-Length\") or 0)\n"
    "        data = self.rfile.read(n) if n else b\"\"\n"
    "        name = parse_qs(urlsplit(self.path).query).get(\"name\", [\"world\"])[0]\n"
    "        if self.path == \"/invoke\" and data:\n"
    "            name = data.decode()\n"
    "        body = json.dumps({\"message\": \"Hello, %s!\" % name}, separators=(\",\", "
    "\":\")).encode()\n"
    "        self.send_response(200)\n"
    "        self.send_header(\"Content-Type\", \"application/json\")\n"
    "        self.send_header(\"Content-Length\", str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "\n"
    "    do_GET = do_POST = answer\n"
    "\n"
    "\n"
    "port = int(os.environ.get(\"FC_SERVER_PORT\", \"9000\"))\n"
    "ThreadingHTTPServer((\"0.0.0.0\", port), Handler).serve_forever()\n";

static const char ignore_text[] = "# Files `nubis deploy` leaves out of the code package\n"
                                  "# (gitignore-like globs; .git is always left out).\n"
                                  "*.log\n"
                                  ".DS_Store\n"
                                  "node_modules/.cache/\n"
                                  "__pycache__/\n";

struct tfile {
    const char *name;
    const char *text;
    mode_t mode;
};

struct template
{
    const char *runtime; /* "nodejs", "python3", "custom" */
    const char *style;
    const char *handler;      /* NULL: none in nubis.yaml */
    const char *handler_type; /* NULL: FC's default */
    struct tfile files[2];
};

static const struct template templates[] = {
    {"nodejs", "fc", "index.handler", NULL, {{"index.js", node_fc, 0644}}},
    {"nodejs", "lambda", "index.handler", "lambda", {{"index.js", node_lambda, 0644}}},
    {"nodejs", "gcf", "index.handler", "gcf", {{"index.js", node_gcf, 0644}}},
    {"nodejs", "openfaas", "handler.handler", "openfaas", {{"handler.js", node_openfaas, 0644}}},
    {"python3", "fc", "index.handler", NULL, {{"index.py", py_fc, 0644}}},
    {"python3",
     "lambda",
     "lambda_function.lambda_handler",
     "lambda",
     {{"lambda_function.py", py_lambda, 0644}}},
    {"custom",
     "fc",
     NULL,
     NULL,
     {{"bootstrap", custom_bootstrap, 0755}, {"server.py", custom_server, 0644}}},
};

/* nodejs<digits>, python3 or python3.<digits>, custom -> the template family, else NULL. */
static const char *runtime_family(const char *rt)
{
    if (strncmp(rt, "nodejs", 6) == 0 && rt[6]) {
        for (const char *p = rt + 6; *p; p++)
            if (!isdigit((unsigned char)*p))
                return NULL;
        return "nodejs";
    }
    if (strncmp(rt, "python3", 7) == 0) {
        const char *p = rt + 7;
        if (*p == '.' && p[1])
            for (p++; *p; p++)
                if (!isdigit((unsigned char)*p))
                    return NULL;
        return *p ? NULL : "python3";
    }
    return strcmp(rt, "custom") == 0 ? "custom" : NULL;
}

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

static int write_new(const char *path, const char *text, mode_t mode)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, mode) < 0) /* the umask must not take bootstrap's x bit away */
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
        {"style", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *runtime = "nodejs20";
    const char *style = "fc";
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            runtime = optarg;
            break;
        case 's':
            style = optarg;
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
    const char *family = runtime_family(runtime);
    if (!family)
        return nb_cli_fail("runtime '%s' is not supported (try nodejs20, python3 or custom)",
                           runtime);
    const struct template *t = NULL;
    for (size_t i = 0; i < NB_ARRAY_SIZE(templates) && !t; i++)
        if (!strcmp(templates[i].runtime, family) && !strcmp(templates[i].style, style))
            t = &templates[i];
    if (!t) {
        if (strcmp(style, "fc") && strcmp(style, "lambda") && strcmp(style, "gcf") &&
            strcmp(style, "openfaas"))
            return nb_cli_fail("style '%s' is not known (fc, lambda, gcf, openfaas)", style);
        return nb_cli_fail("style '%s' is not available for runtime '%s' (%s)", style, runtime,
                           !strcmp(family, "custom") ? "a custom runtime serves HTTP itself"
                                                     : "gcf and openfaas are Node.js styles");
    }

    const char *names[4];
    size_t n = 0;
    for (size_t i = 0; i < NB_ARRAY_SIZE(t->files) && t->files[i].name; i++)
        names[n++] = t->files[i].name;
    names[n++] = "nubis.yaml";
    names[n++] = ".nubisignore";
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = nb_xasprintf("%s/%s", dir, names[i]);
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

    _cleanup_free_ char *handler =
        t->handler ? nb_xasprintf("    handler: %s\n", t->handler) : nb_xstrdup("");
    _cleanup_free_ char *htype =
        t->handler_type ? nb_xasprintf("    handlerType: %s\n", t->handler_type) : nb_xstrdup("");
    _cleanup_free_ char *yaml = nb_xasprintf("# nubis.yaml: what `nubis deploy` deploys "
                                             "(see `nubis deploy --help`).\n"
                                             "service:\n"
                                             "  name: %s\n"
                                             "functions:\n"
                                             "  hello:\n"
                                             "    runtime: %s\n"
                                             "%s%s"
                                             "    codeUri: ./\n"
                                             "    memorySize: 128\n"
                                             "    timeout: 60\n"
                                             "    triggers:\n"
                                             "      - name: http\n"
                                             "        type: http\n"
                                             "        config:\n"
                                             "          authType: anonymous\n"
                                             "          methods: [GET, POST]\n",
                                             svc, runtime, handler, htype);
    struct tfile out[4];
    size_t k = 0;
    for (size_t i = 0; i < NB_ARRAY_SIZE(t->files) && t->files[i].name; i++)
        out[k++] = t->files[i];
    out[k++] = (struct tfile){"nubis.yaml", yaml, 0644};
    out[k++] = (struct tfile){".nubisignore", ignore_text, 0644};
    for (size_t i = 0; i < k; i++) {
        _cleanup_free_ char *p = nb_xasprintf("%s/%s", dir, out[i].name);
        r = write_new(p, out[i].text, out[i].mode);
        if (r < 0)
            return nb_cli_fail("write '%s': %s", p, strerror(-r));
    }
    printf("created %s: ", dir);
    for (size_t i = 0; i < k; i++)
        printf("%s%s", i ? ", " : "", out[i].name);
    printf(" (service %s, function hello, %s style)\nnext: nubis deploy %s\n", svc, style, dir);
    return 0;
}
