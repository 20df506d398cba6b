/*
 * fds.c - the descriptor reserve and out-of-descriptor reports.
 *
 * Owns: a few descriptors (of /dev/null) opened at start and lent out,
 *       one at a time, to a backend connect that found the process out of
 *       descriptors.
 * Invariant: while any reserve descriptor is lent out (`lent` > 0), new
 *            clients are refused, so the descriptors freed by closing
 *            connections refill the reserve instead of going to new
 *            clients: an accept storm cannot starve the connects of
 *            requests already accepted.
 * Runs on: any thread; the reserve is behind a mutex, taken only when the
 *          process has run out (the common path is one atomic load).
 *
 * libuv keeps a descriptor of its own per loop for the same purpose on
 * the accept side (uv__emfile_trick: a listener out of descriptors
 * accepts and closes, so clients see a close rather than a hang).
 */
#include "fds.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

#define RESERVE_MAX 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int reserve[RESERVE_MAX];	/* -1: lent out */
static int nreserve;			/* size of the reserve */
static atomic_int lent;			/* descriptors of it lent out */
static atomic_ullong last_report_ms;
static atomic_ullong unreported;

long fds_init(void)
{
	struct rlimit rl;
	long limit = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1 << 30 ? 1 << 30 : (long)rl.rlim_cur;
	}
	nreserve = (int)(limit / 32);
	nreserve = nreserve < 4 ? 4 : nreserve > RESERVE_MAX ? RESERVE_MAX : nreserve;
	for (int i = 0; i < nreserve; i++)
		reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < nreserve; i++)
		if (reserve[i] < 0)
			atomic_fetch_add(&lent, 1);
	return limit;
}

void fds_close(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nreserve; i++) {
		if (reserve[i] >= 0)
			close(reserve[i]);
		reserve[i] = -1;
	}
	nreserve = 0;
	atomic_store(&lent, 0);
	pthread_mutex_unlock(&lock);
}

bool fds_exhausted(int err)
{
	return err == UV_EMFILE || err == UV_ENFILE || err == -EMFILE || err == -ENFILE;
}

void fds_report(const char *what)
{
	uint64_t now = nd_now_ms(), last = atomic_load(&last_report_ms);

	if (now - last < 1000 || !atomic_compare_exchange_strong(&last_report_ms, &last, now)) {
		atomic_fetch_add(&unreported, 1);
		return;
	}
	log_error("out of file descriptors while %s (%llu more times since the last report); "
		  "new clients are refused until some close; raise the limit (ulimit -n, "
		  "LimitNOFILE=) or lower max_connections",
		  what, (unsigned long long)atomic_exchange(&unreported, 0));
}

/* Take back lent descriptors that can be had again. Returns true when
 * the reserve is whole. */
static bool refill(void)
{
	bool whole = true;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < nreserve; i++) {
		if (reserve[i] >= 0)
			continue;
		reserve[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (reserve[i] < 0) {
			whole = false;
			break;
		}
		atomic_fetch_sub(&lent, 1);
	}
	pthread_mutex_unlock(&lock);
	return whole;
}

bool fds_admit(void)
{
	if (atomic_load_explicit(&lent, memory_order_relaxed) == 0)
		return true;
	if (refill())
		return true;
	fds_report("accepting a client (the reserve kept for backend connects is in use)");
	return false;
}

/* Lend one reserve descriptor to the process. False when none is left. */
static bool lend(void)
{
	bool done = false;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < nreserve && !done; i++) {
		if (reserve[i] < 0)
			continue;
		close(reserve[i]);
		reserve[i] = -1;
		atomic_fetch_add(&lent, 1);
		done = true;
	}
	pthread_mutex_unlock(&lock);
	return done;
}

int fds_tcp_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *addr, uv_connect_cb cb)
{
	int r = uv_tcp_connect(req, h, addr, cb);

	if (!fds_exhausted(r))
		return r;
	fds_report("connecting to a backend");
	if (lend())
		r = uv_tcp_connect(req, h, addr, cb);
	return r;
}
