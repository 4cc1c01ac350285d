/*
 * family.h: runtime families, by the runtime name: nodejs* (nodejs20,
 * nodejs18), python3* (python3, python3.10) and custom.  The family decides
 * the shim an instance runs (runtime/), its pre-warm pool (sched/), the
 * INVOKE meta's form (gateway/: Node reads the fields form) and what a
 * function may name (api/).  Header-only, so api/ needs no link to runtime/.
 */
#ifndef NB_RUNTIME_FAMILY_H
#define NB_RUNTIME_FAMILY_H

#include <stddef.h>
#include <string.h>

enum nb_runtime_family { NB_RT_NONE = -1, NB_RT_NODEJS, NB_RT_PYTHON3, NB_RT_CUSTOM };

/* runtime's family (NULL: NB_RT_NONE); *version, if asked, the rest after nodejs or python3. */
static inline enum nb_runtime_family nb_runtime_family(const char *runtime, const char **version)
{
    static const char *const prefix[] = {[NB_RT_NODEJS] = "nodejs", [NB_RT_PYTHON3] = "python3"};
    if (version)
        *version = NULL;
    if (!runtime)
        return NB_RT_NONE;
    for (int f = NB_RT_NODEJS; f <= NB_RT_PYTHON3; f++) {
        size_t n = strlen(prefix[f]);
        if (strncmp(runtime, prefix[f], n) == 0) {
            if (version)
                *version = runtime + n;
            return (enum nb_runtime_family)f;
        }
    }
    return strcmp(runtime, "custom") == 0 ? NB_RT_CUSTOM : NB_RT_NONE;
}

#endif
