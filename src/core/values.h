/*
 * values.h - the syntax of configuration values (durations, sizes,
 * addresses), shared by the config reader, the admin API and the CLI.
 */
#ifndef ND_VALUES_H
#define ND_VALUES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common.h"

/* "500ms", "2s", "1m", "1h" -> milliseconds. 0 on success, -EINVAL if not. */
int config_parse_duration(const char *s, uint64_t *ms) ND_MUST_CHECK;
/* "512", "16k", "16KiB", "10M", "1GiB" -> bytes. 0 on success, -EINVAL if not. */
int config_parse_size(const char *s, uint64_t *bytes) ND_MUST_CHECK;
/* "127.0.0.1:80", "[::1]:80", "localhost:80" -> address. 0 or -EINVAL. */
int config_parse_address(const char *s, struct sockaddr_storage *ss, const char **why) ND_MUST_CHECK;

/* Format ss as "ip:port" into out (>= 64 bytes). */
void config_format_address(const struct sockaddr_storage *ss, char *out, size_t n);

/* Are a and b the same address and port? */
bool config_same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* Would binding both a and b clash? Same port and same address, or the
 * same port where one of them is the wildcard of its family. */
bool config_addr_clash(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
