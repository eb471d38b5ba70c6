/* sha256.h: SHA-256 checksums (FIPS 180-4) as 64 lowercase hex digits, for the
 * data files diffkit ships (data/featnet/, checked on load). */
#ifndef DIFFKIT_SHA256_H
#define DIFFKIT_SHA256_H
#include <stddef.h>

#include "diffkit/error.h"

#ifdef __cplusplus
extern "C" {
#endif

void dk_sha256_hex(const void *data, size_t n, char hex[65]);
dk_status dk_sha256_file(const char *path, char hex[65], dk_error *err);

#ifdef __cplusplus
}
#endif
#endif
