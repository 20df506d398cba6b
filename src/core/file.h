/*
 * file.h - files nodown writes (state file, pid file): written whole or
 * not at all, never through a link an attacker planted.
 */
#ifndef ND_FILE_H
#define ND_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common.h"

/*
 * Replace the file at path with data[0, n), atomically: a temporary file
 * is created in the same directory with O_CREAT|O_EXCL|O_NOFOLLOW and a
 * random name (mkostemp), given `mode`, written, fsync'ed, renamed over
 * path, and the directory fsync'ed. A reader sees the old file or the new
 * one, never part of one; a symbolic link at path is replaced, not
 * followed; a crash leaves at most a stray temporary file. Returns 0 or a
 * negative errno (nothing replaced).
 */
int file_write_atomic(const char *path, const void *data, size_t n, mode_t mode) ND_MUST_CHECK;

#endif
