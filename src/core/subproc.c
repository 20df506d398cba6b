/*
 * subproc.c - a shell command in its own process group (see subproc.h).
 *
 * Owns: struct subproc: the process, the pipe its output comes through,
 *       one timer (its timeout, then the grace after a SIGTERM, then the
 *       moment its output is given to settle), and the output's tail.
 * Invariants: done is called exactly once, unless the owner went first
 *             (subproc_kill_now); after a stop, the group gets SIGKILL
 *             once the grace has passed if anything of it is left, even
 *             when the shell has exited; the struct is freed only once
 *             every handle has closed. A background process it leaves
 *             in its group after a normal exit is left alone.
 * Runs on: the control thread's loop.
 */
#include "subproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define SETTLE_MS 200		/* output read after the shell exited */
#define KILL_NOW_MAX_MS 2000	/* the longest subproc_kill_now blocks */

struct subproc {
	uv_process_t proc;
	uv_pipe_t pipe;
	uv_timer_t timer;
	int open;			/* handles not closed yet */
	bool running;			/* the shell has not exited */
	bool pipe_open, exited, over;
	bool reaping;			/* stopped, the shell gone, the rest of its group not yet */
	int pgid;			/* its process group: the shell's pid */
	uint64_t timeout_ms, grace_ms;
	subproc_done_fn done;
	void *arg;
	struct subproc_result res;
	char stop_why[96];
	char tail[SUBPROC_TAIL];
	size_t tail_len;
	char out[2 * SUBPROC_TAIL + 1];
};

static void closed_cb(uv_handle_t *h)
{
	struct subproc *s = h->data;

	if (--s->open == 0)
		free(s);
}

static bool kill_group(struct subproc *s, int sig)
{
	return s->pgid > 0 && kill(-s->pgid, sig) == 0;
}

/* Valid UTF-8 of the n bytes at in, into out (at least 2n + 1 bytes): a
 * byte that starts no valid sequence, and a NUL, become '?'. */
static void utf8_clean(const char *in, size_t n, char *out)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t i = 0, k = 0;

	while (i < n) {
		size_t len = u[i] < 0x80 ? 1 : (u[i] & 0xe0) == 0xc0 ? 2 : (u[i] & 0xf0) == 0xe0 ? 3 :
			     (u[i] & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = len > 0 && i + len <= n && u[i] != 0 && (len != 2 || u[i] >= 0xc2);

		for (size_t j = 1; ok && j < len; j++)
			ok = (u[i + j] & 0xc0) == 0x80;
		if (!ok) {
			out[k++] = '?';
			i++;
			continue;
		}
		memcpy(out + k, in + i, len);
		k += len;
		i += len;
	}
	out[k] = '\0';
}

static void close_pipe(struct subproc *s)
{
	if (s->pipe_open) {
		s->pipe_open = false;
		uv_close((uv_handle_t *)&s->pipe, closed_cb);
	}
}

/* It is over: the owner hears, the handles close. */
static void end(struct subproc *s)
{
	s->over = true;
	close_pipe(s);
	uv_timer_stop(&s->timer);
	utf8_clean(s->tail, s->tail_len, s->out);
	s->res.output = s->out;
	s->done(s->arg, &s->res);
	uv_close((uv_handle_t *)&s->timer, closed_cb);
}

static void settle_cb(uv_timer_t *t)
{
	end(t->data);
}

/* The grace after a SIGTERM has passed: SIGKILL to what is left. */
static void grace_cb(uv_timer_t *t)
{
	struct subproc *s = t->data;

	if (kill_group(s, SIGKILL))
		s->res.group_killed = true;
	if (s->reaping) {	/* the shell is gone already: nothing more will call */
		s->reaping = false;
		uv_timer_start(&s->timer, settle_cb, SETTLE_MS, 0);
	}
}

void subproc_stop(struct subproc *s, const char *why)
{
	if (s->over || s->res.stopped)
		return;
	if (why != s->stop_why)
		snprintf(s->stop_why, sizeof(s->stop_why), "%s", why);
	s->res.stopped = s->stop_why;
	kill_group(s, SIGTERM);
	if (!s->exited)		/* else its output settles and it ends */
		uv_timer_start(&s->timer, grace_cb, s->grace_ms, 0);
}

static void timeout_cb(uv_timer_t *t)
{
	struct subproc *s = t->data;

	snprintf(s->stop_why, sizeof(s->stop_why), "timed out after %.1fs", (double)s->timeout_ms / 1000);
	subproc_stop(s, s->stop_why);
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct subproc *s = p->data;

	s->running = false;
	uv_close((uv_handle_t *)p, closed_cb);
	s->res.exit_status = status;
	s->res.term_signal = sig;
	s->exited = true;
	if (s->res.stopped && !s->res.group_killed && kill_group(s, 0)) {
		s->reaping = true;	/* the grace timer runs on: then SIGKILL to the rest */
		return;
	}
	uv_timer_stop(&s->timer);
	if (!s->pipe_open) {
		end(s);
		return;
	}
	/* a child it left behind may hold the output open: read a moment more */
	uv_timer_start(&s->timer, settle_cb, SETTLE_MS, 0);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[8192];	/* the control thread's only */

	ND_UNUSED(h);
	ND_UNUSED(hint);
	*b = uv_buf_init(buf, sizeof(buf));
}

static void keep_tail(struct subproc *s, const char *p, size_t n)
{
	size_t keep;

	s->res.output_bytes += n;
	if (n >= SUBPROC_TAIL) {
		memcpy(s->tail, p + n - SUBPROC_TAIL, SUBPROC_TAIL);
		s->tail_len = SUBPROC_TAIL;
		return;
	}
	keep = s->tail_len + n > SUBPROC_TAIL ? SUBPROC_TAIL - n : s->tail_len;
	memmove(s->tail, s->tail + s->tail_len - keep, keep);
	memcpy(s->tail + keep, p, n);
	s->tail_len = keep + n;
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct subproc *s = st->data;

	if (n >= 0) {
		keep_tail(s, b->base, (size_t)n);
		return;
	}
	close_pipe(s);
	if (s->exited && !s->reaping)
		end(s);
}

struct subproc *subproc_start(uv_loop_t *loop, const char *cmd, const char *cwd, char **env,
			      uint64_t timeout_ms, uint64_t grace_ms, subproc_done_fn done, void *arg,
			      char *why, size_t wn)
{
	char *args[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	uv_stdio_container_t io[3];
	uv_process_options_t o = { 0 };
	struct subproc *s;
	int fds[2], e;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(why, wn, "cannot make a pipe for its output: %s", strerror(errno));
		return NULL;
	}
	io[0].flags = UV_IGNORE;
	io[1].flags = io[2].flags = UV_INHERIT_FD;
	io[1].data.fd = io[2].data.fd = fds[1];
	o.file = args[0];
	o.args = args;
	o.env = env;
	o.cwd = cwd;
	o.flags = UV_PROCESS_DETACHED;	/* its own process group: a stop reaches its children */
	o.stdio = io;
	o.stdio_count = 3;
	o.exit_cb = exit_cb;
	s = xcalloc(1, sizeof(*s));
	s->proc.data = s->pipe.data = s->timer.data = s;
	s->open = 1;
	e = uv_spawn(loop, &s->proc, &o);
	close(fds[1]);
	if (e < 0) {
		close(fds[0]);
		uv_close((uv_handle_t *)&s->proc, closed_cb);
		snprintf(why, wn, "cannot start /bin/sh in %s: %s", cwd, uv_strerror(e));
		return NULL;
	}
	s->running = true;
	s->pgid = s->proc.pid;
	s->timeout_ms = timeout_ms;
	s->grace_ms = grace_ms;
	s->done = done;
	s->arg = arg;
	uv_timer_init(loop, &s->timer);
	uv_pipe_init(loop, &s->pipe, 0);
	s->open += 2;
	s->pipe_open = true;
	if (uv_pipe_open(&s->pipe, fds[0]) < 0 || uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb) < 0)
		close_pipe(s);
	uv_timer_start(&s->timer, timeout_cb, timeout_ms, 0);
	return s;
}

const char *subproc_kill_now(struct subproc *s)
{
	uint64_t until = nd_now_ms() + (s->grace_ms < KILL_NOW_MAX_MS ? s->grace_ms : KILL_NOW_MAX_MS);
	const char *what = "nothing of it was left";

	if (kill_group(s, SIGTERM)) {
		what = "it got SIGTERM";
		while (kill_group(s, 0) && nd_now_ms() < until) {
			if (s->running && waitpid(s->pgid, NULL, WNOHANG) == s->pgid)
				s->running = false;	/* ours to reap, or it stays a zombie of the group */
			nanosleep(&(struct timespec){ 0, 10 * 1000000 }, NULL);
		}
		if (kill_group(s, SIGKILL))
			what = "it got SIGTERM, then SIGKILL";
	}
	s->over = true;
	close_pipe(s);
	if (!s->exited)		/* no exit_cb after the close */
		uv_close((uv_handle_t *)&s->proc, closed_cb);
	uv_close((uv_handle_t *)&s->timer, closed_cb);
	return what;
}
