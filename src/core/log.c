/*
 * log.c - where nodown's words go.
 *
 * Owns: the error-log and access-log file descriptors.
 * Invariants: every line reaches the fd in a single write(2), so lines
 *             from different threads never interleave mid-line; a line
 *             holds no control character but its final newline: what a
 *             client sent (a user name, a path) is escaped as \xNN, so it
 *             cannot end a line and forge the next one.
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

/*
 * Copy text[0, n) to out (cap bytes), control characters (and DEL)
 * written as \xNN. Returns the bytes written; stops before overflowing.
 */
static size_t escape(char *out, size_t cap, const char *text, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c >= 0x20 && c != 0x7f) {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
			continue;
		}
		if (o + 4 > cap)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	return o;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[2048], text[1536];
	va_list ap;
	int t;
	size_t n;

	log_timestamp(line, sizeof(line));
	n = strlen(line);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " %s: ", names[lvl]);
	va_start(ap, fmt);
	t = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (t < 0)
		t = 0;
	if (t >= (int)sizeof(text))
		t = (int)sizeof(text) - 1;
	n += escape(line + n, sizeof(line) - n - 1, text, (size_t)t);
	line[n++] = '\n';
	write_all(error_fd, line, n);
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
	char text[1024];
	va_list ap;
	int n;

	if (access_fd < 0)
		return;
	if (b->cap - b->len < 4 * sizeof(text) + 1)
		logbuf_flush(b);
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if (n >= (int)sizeof(text))
		n = (int)sizeof(text) - 1;
	if (text[n - 1] == '\n')	/* the line's own end stays */
		n--;
	b->len += escape(b->p + b->len, b->cap - b->len - 1, text, (size_t)n);
	b->p[b->len++] = '\n';
}

void logbuf_flush(struct logbuf *b)
{
	if (b->len && access_fd >= 0)
		write_all(access_fd, b->p, b->len);
	b->len = 0;
}
