/*
 * fuzz_manifest.c: nubis.yaml parsing (src/cli/manifest.c): YAML -> JSON,
 * validation and normalization, and building the API bodies from what
 * validated.  Anything accepted must produce bodies.
 *
 * fuzz-deps: src/cli/manifest.c src/timer/cron.c nb_base
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    struct nb_err err = {0};
    json_t *m = nb_yaml_to_json((const char *)data, size, "fuzz.yaml", &err);
    if (m == NULL)
        return 0;
    if (nb_manifest_validate(m, &err) == 0) {
        json_t *svc = nb_manifest_service_body(m);
        if (svc == NULL)
            abort();
        json_decref(svc);
        const char *fname;
        json_t *fn;
        json_object_foreach(json_object_get(m, "functions"), fname, fn)
        {
            json_t *body = nb_manifest_function_body(fname, fn, "0123abcd");
            if (body == NULL)
                abort();
            json_decref(body);
            size_t i;
            json_t *t;
            json_array_foreach(json_object_get(fn, "triggers"), i, t)
            {
                json_t *tb = nb_manifest_trigger_body(t);
                if (tb == NULL)
                    abort();
                json_decref(tb);
            }
        }
    }
    json_decref(m);
    return 0;
}
