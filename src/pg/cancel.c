/*
 * cancel.c - cancel keys and CancelRequests.
 *
 * Owns: the process-wide table of the BackendKeyData nodown gave its
 *       clients, and the short connections that carry a cancel to a server.
 * Invariants:
 *   - a key comes from the system's cryptographic random source, never a
 *     guessable fallback;
 *   - a cancel reaches a server only if the client it names is still
 *     linked to that server in the same link generation as when the
 *     request arrived: a client that finished its transaction (and whose
 *     server went to someone else) or moved to another server is not
 *     cancelled there;
 *   - the requester is closed only after the server closed the cancel
 *     connection, i.e. after the server acted on it: a client that sends
 *     its next query once PQcancel returned does not have that query
 *     cancelled.
 * Runs on: any thread for the table (one mutex; a CancelRequest may come
 *          in on any worker); each cancel connection on the loop of the
 *          worker that received the request.
 */
#include "cancel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "../core/fds.h"
#include "../core/worker.h"
#include "wire.h"

#define CANCEL_BUCKETS 4096
#define CANCEL_TIMEOUT_MS 30000	/* a server that never closes the cancel connection */

struct pgcancel {
	int32_t pid;
	uint32_t key;
	bool linked;
	unsigned gen;			/* link generation: +1 at every link and unlink */
	struct sockaddr_storage addr;	/* the server the client is on */
	int32_t spid;			/* that server's own key */
	uint32_t skey;
	struct pgcancel *next;		/* hash chain */
};

struct pgcancel_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_write_t wreq;
	int closing_handles;
	int32_t pid;			/* the client's key, as requested */
	uint32_t key;
	unsigned gen;			/* its link generation when the request came */
	void (*done)(void *arg);	/* NULL once called or detached */
	void *arg;
	char msg[16];
	char rbuf[64];
};

static struct pgcancel *table[CANCEL_BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int32_t pid_floor;		/* first pid above the kernel's pid_max */
static atomic_int fake_seq;

static void read_pid_max(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	long v = 4194304;	/* the largest Linux allows */

	if (f) {
		if (fscanf(f, "%ld", &v) != 1 || v < 1 || v > 4194304)
			v = 4194304;
		fclose(f);
	}
	pid_floor = (int32_t)v + 1;
}

int32_t pg_cancel_fake_pid(void)
{
	unsigned span, n;

	pthread_once(&once, read_pid_max);
	span = (unsigned)INT32_MAX - (unsigned)pid_floor;
	n = (unsigned)atomic_fetch_add(&fake_seq, 1);
	return pid_floor + (int32_t)(n % span);
}

static struct pgcancel **slot(int32_t pid, uint32_t key)
{
	struct pgcancel **e = &table[(uint32_t)pid % CANCEL_BUCKETS];

	while (*e && ((*e)->pid != pid || (*e)->key != key))
		e = &(*e)->next;
	return e;
}

struct pgcancel *pg_cancel_register(int32_t pid, uint32_t *key)
{
	struct pgcancel *e;

	if (uv_random(NULL, NULL, key, sizeof(*key), 0, NULL) != 0)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->pid = pid;
	e->key = *key;
	pthread_mutex_lock(&lock);
	e->next = table[(uint32_t)pid % CANCEL_BUCKETS];
	table[(uint32_t)pid % CANCEL_BUCKETS] = e;
	pthread_mutex_unlock(&lock);
	return e;
}

void pg_cancel_link(struct pgcancel *e, const struct sockaddr_storage *addr, int32_t spid,
		    uint32_t skey)
{
	pthread_mutex_lock(&lock);
	e->linked = true;
	e->gen++;
	e->addr = *addr;
	e->spid = spid;
	e->skey = skey;
	pthread_mutex_unlock(&lock);
}

void pg_cancel_unlink(struct pgcancel *e)
{
	pthread_mutex_lock(&lock);
	e->linked = false;
	e->gen++;
	pthread_mutex_unlock(&lock);
}

void pg_cancel_unregister(struct pgcancel *e)
{
	struct pgcancel **p;

	if (!e)
		return;
	pthread_mutex_lock(&lock);
	for (p = &table[(uint32_t)e->pid % CANCEL_BUCKETS]; *p && *p != e; p = &(*p)->next)
		;
	if (*p)
		*p = e->next;
	pthread_mutex_unlock(&lock);
	free(e);
}

/* ---- the connection that carries a cancel --------------------------------------- */

static void conn_closed_cb(uv_handle_t *h)
{
	struct pgcancel_conn *cc = h->data;

	if (--cc->closing_handles == 0)
		free(cc);
}

/* Over: answer the requester, close. */
static void finish(struct pgcancel_conn *cc)
{
	void (*done)(void *) = cc->done;

	if (uv_is_closing((uv_handle_t *)&cc->tcp))
		return;
	cc->done = NULL;
	cc->closing_handles = 2;
	uv_close((uv_handle_t *)&cc->timer, conn_closed_cb);
	uv_close((uv_handle_t *)&cc->tcp, conn_closed_cb);
	if (done)
		done(cc->arg);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct pgcancel_conn *cc = h->data;

	ND_UNUSED(hint);
	*b = uv_buf_init(cc->rbuf, sizeof(cc->rbuf));
}

/* The server says nothing on a cancel connection: it closes it once done. */
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	ND_UNUSED(b);
	if (n < 0)
		finish(s->data);
}

static void written_cb(uv_write_t *req, int status)
{
	struct pgcancel_conn *cc = req->data;

	if (status < 0 || uv_read_start((uv_stream_t *)&cc->tcp, alloc_cb, read_cb) < 0)
		finish(cc);
}

/* Is the client still on the server, in the link generation the request
 * found it in? Then write the server's cancel into cc->msg. */
static bool still_linked(struct pgcancel_conn *cc)
{
	struct pgcancel *e;
	bool ok;

	pthread_mutex_lock(&lock);
	e = *slot(cc->pid, cc->key);
	ok = e && e->linked && e->gen == cc->gen;
	if (ok)
		pg_build_cancel(cc->msg, sizeof(cc->msg), e->spid, e->skey);
	pthread_mutex_unlock(&lock);
	return ok;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct pgcancel_conn *cc = req->data;
	uv_buf_t b;

	if (status < 0 || !still_linked(cc)) {
		finish(cc);
		return;
	}
	b = uv_buf_init(cc->msg, 16);
	if (uv_write(&cc->wreq, (uv_stream_t *)&cc->tcp, &b, 1, written_cb) < 0)
		finish(cc);
}

static void timeout_cb(uv_timer_t *t)
{
	finish(t->data);
}

struct pgcancel_conn *pg_cancel_request(struct worker *w, int32_t pid, uint32_t key,
					void (*done)(void *arg), void *arg)
{
	struct pgcancel_conn *cc;
	struct sockaddr_storage addr;
	struct pgcancel *e;
	unsigned gen = 0;
	bool found;

	pthread_mutex_lock(&lock);
	e = *slot(pid, key);
	found = e && e->linked;
	if (found) {
		addr = e->addr;
		gen = e->gen;
	}
	pthread_mutex_unlock(&lock);
	if (!found) {
		done(arg);
		return NULL;
	}
	cc = xcalloc(1, sizeof(*cc));
	cc->pid = pid;
	cc->key = key;
	cc->gen = gen;
	cc->done = done;
	cc->arg = arg;
	uv_tcp_init(&w->loop, &cc->tcp);
	uv_timer_init(&w->loop, &cc->timer);
	cc->tcp.data = cc->timer.data = cc->creq.data = cc->wreq.data = cc;
	uv_timer_start(&cc->timer, timeout_cb, CANCEL_TIMEOUT_MS, 0);
	if (fds_tcp_connect(&cc->creq, &cc->tcp, (const struct sockaddr *)&addr, connect_cb) < 0) {
		finish(cc);
		return NULL;
	}
	return cc;
}

void pg_cancel_detach(struct pgcancel_conn *cc)
{
	if (cc)
		cc->done = NULL;
}
