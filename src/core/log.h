/*
 * log.h - error log (any thread, one write per line) and per-worker
 * buffered access log.
 */
#ifndef ND_LOG_H
#define ND_LOG_H

#include <stddef.h>

#include "common.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Open targets: "stderr", "off" (access only) or a file path (appended).
 * Returns 0 or -errno. Control thread, before workers start. */
int log_open(const char *error_target, const char *access_target) ND_MUST_CHECK;
void log_close(void);

void log_msg(enum log_level lvl, const char *fmt, ...) ND_PRINTF(2, 3);
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)

/* True when access logging is on. */
int log_access_enabled(void);

/* A worker's access-log buffer: lines gather here and reach the file in
 * one write per loop iteration (or when it fills). */
struct logbuf {
	char *p;		/* owned */
	size_t len, cap;
};

void logbuf_init(struct logbuf *b, size_t cap);
void logbuf_free(struct logbuf *b);
/* One access-log line (a newline is added if fmt has none at its end);
 * control characters in it are escaped as \xNN. */
void logbuf_printf(struct logbuf *b, const char *fmt, ...) ND_PRINTF(2, 3);
void logbuf_flush(struct logbuf *b);

/* "2026-11-22T02:39:47.123Z" into out (>= 32 bytes). */
void log_timestamp(char *out, size_t n);

#endif
