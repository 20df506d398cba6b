/*
 * log.c - where nodown's words go.
 *
 * Owns: the error-log and access-log file descriptors.
 * Invariant: every line reaches the fd in a single write(2), so lines from
 *            different threads never interleave mid-line.
 * Runs on: error log from any thread; each logbuf only on its worker.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int error_fd = 2;
static int access_fd = -1;

static int open_target(const char *t, int *fd)
{
	if (!strcmp(t, "stderr")) {
		*fd = 2;
		return 0;
	}
	if (!strcmp(t, "stdout")) {
		*fd = 1;
		return 0;
	}
	if (!strcmp(t, "off")) {
		*fd = -1;
		return 0;
	}
	*fd = open(t, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	return *fd < 0 ? -errno : 0;
}

int log_open(const char *error_target, const char *access_target)
{
	int r = open_target(error_target, &error_fd);

	if (r < 0) {
		error_fd = 2;
		return r;
	}
	return open_target(access_target, &access_fd);
}

void log_close(void)
{
	if (access_fd > 2)
		close(access_fd);
	if (error_fd > 2)
		close(error_fd);
	access_fd = -1;
	error_fd = 2;
}

int log_access_enabled(void)
{
	return access_fd >= 0;
}

void log_timestamp(char *out, size_t n)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* nowhere left to report a logging failure */
		p += w;
		n -= (size_t)w;
	}
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[2048];
	va_list ap;
	int n;

	log_timestamp(line, sizeof(line));
	n = (int)strlen(line);
	n += snprintf(line + n, sizeof(line) - (size_t)n, " %s: ", names[lvl]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	write_all(error_fd, line, (size_t)n);
}

void logbuf_init(struct logbuf *b, size_t cap)
{
	b->p = xmalloc(cap);
	b->len = 0;
	b->cap = cap;
}

void logbuf_free(struct logbuf *b)
{
	logbuf_flush(b);
	free(b->p);
	b->p = NULL;
}

void logbuf_printf(struct logbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (access_fd < 0)
		return;
	if (b->cap - b->len < 1024)
		logbuf_flush(b);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len)
		n = (int)(b->cap - b->len - 1);
	b->len += (size_t)n;
}

void logbuf_flush(struct logbuf *b)
{
	if (b->len && access_fd >= 0)
		write_all(access_fd, b->p, b->len);
	b->len = 0;
}
