/*
 * manifest.h: `nubis.yaml` (DESIGN.md "The manifest"): a small generic
 * YAML -> JSON converter (libyaml -> jansson), the manifest's validation
 * with errors naming the key ("functions.test01.memorySize: must be a
 * number"), and the management API bodies built from it.
 *
 * Needs nothing from the daemon, so it is unit-tested on its own.
 */
#ifndef NB_CLI_MANIFEST_H
#define NB_CLI_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"

/*
 * Converts the first YAML document in text[0..len) to JSON (new reference).
 * Mappings become objects (keys must be scalars, no duplicates), sequences
 * arrays.  Plain scalars that read as an integer (no leading zero), a bool
 * (true/false, any case style YAML 1.2 allows) or null (null, ~, empty) are
 * typed; everything else, and every quoted scalar, is a string.  Aliases are
 * expanded (depth is capped).  name prefixes error messages ("nubis.yaml:3:5:
 * ...").  Returns NULL with err filled (-EINVAL) on bad YAML or an empty
 * document.
 */
json_t *nb_yaml_to_json(const char *text, size_t len, const char *name, struct nb_err *err);

/*
 * Checks a manifest tree and normalizes it in place: fills defaults (codeUri
 * "./"), turns scalar environment values into strings and a mapping timer
 * payload into its JSON text.  Returns 0, or -EINVAL with err naming the key
 * path: "functions.test01.memorySize: must be a number".
 */
int nb_manifest_validate(json_t *m, struct nb_err *err);

/* Reads dir/nubis.yaml, converts and validates it; *out is a new reference. */
int nb_manifest_load(const char *dir, json_t **out, struct nb_err *err);

/* API bodies (new references) from a validated manifest. */
json_t *nb_manifest_service_body(const json_t *m);
json_t *nb_manifest_function_body(const char *fname, const json_t *fn, const char *checksum);
json_t *nb_manifest_trigger_body(const json_t *trigger);

/* 1 if s is a valid service/function/trigger name: [a-zA-Z_][a-zA-Z0-9_-]{0,127}. */
int nb_manifest_valid_name(const char *s);

#endif
