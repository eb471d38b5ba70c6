/* readfile.h (internal): a whole regular file into memory, for the readers
 * that parse files as data (safetensors.c, torchfile.c). */
#ifndef DIFFKIT_READFILE_H
#define DIFFKIT_READFILE_H

#include <stddef.h>
#include "diffkit/error.h"

/* Reads path into a new malloc'd *buf (at least 1 byte allocated) of *len
 * bytes. DK_EIO (cannot open, not a regular file, read error, file shrank)
 * or DK_ENOMEM, with the path in the message; *buf is NULL then. */
dk_status dk__read_file(const char *path, unsigned char **buf, size_t *len, dk_error *err);

#endif
