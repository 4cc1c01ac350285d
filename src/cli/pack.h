/*
 * pack.h: zipping a function's code directory in memory for `nubis deploy`
 * (libarchive, zip + deflate), honouring `.nubisignore`.
 *
 * `.nubisignore` is gitignore-like: one glob per line (fnmatch), '#'
 * comments, blank lines ignored; a pattern with a '/' other than a trailing
 * one is anchored to the ignore file's directory (a leading '/' just
 * anchors), otherwise it matches a name at any depth; a trailing '/' matches
 * directories only; '!' re-includes what an earlier pattern excluded (but,
 * as in git, not inside an excluded directory); '**' matches across '/'.
 * `.git` is always skipped.  Needs nothing from the daemon.
 */
#ifndef NB_CLI_PACK_H
#define NB_CLI_PACK_H

#include <stddef.h>

#include "base/err.h"

struct nb_ignore;

/* Parses ignore rules from text (NULL: no rules); never NULL. */
struct nb_ignore *nb_ignore_parse(const char *text);
/* Reads dir/.nubisignore; a missing file gives empty rules.  NULL with err on a read error. */
struct nb_ignore *nb_ignore_load(const char *dir, struct nb_err *err);
void nb_ignore_free(struct nb_ignore *ig);
/*
 * 1 if relpath (relative to the ignore file's directory, '/'-separated, no
 * leading "./") is ignored, itself or through one of its parent directories;
 * is_dir says whether relpath itself is a directory.
 */
int nb_ignore_match(const struct nb_ignore *ig, const char *relpath, int is_dir);

struct nb_pack_result {
    char *zip; /* the archive, caller frees */
    size_t len;
    size_t files; /* regular files and symlinks stored */
};

/*
 * Zips the tree under dir (entries relative to dir; regular files keep their
 * permission bits, symlinks are stored as symlinks, directories as entries,
 * other file types are skipped).  ig may be NULL; ig_prefix is dir's path
 * relative to the ignore file's directory ("" or NULL when the same, else
 * "sub/dir") and is prepended to entry paths for matching.  Returns 0 or a
 * negative errno with err naming the file.
 */
int nb_pack_dir(const char *dir, const struct nb_ignore *ig, const char *ig_prefix,
                struct nb_pack_result *out, struct nb_err *err);

#endif
