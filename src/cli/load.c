/*
 * load.c - `nodown load PROTOCOL TARGET`: an open-loop, constant-rate load
 * that counts every error and measures latency from the moment each
 * request was due, so a stall shows up as latency instead of being hidden
 * by a client that simply waited (coordinated omission). What a request
 * and a response are is the protocol's (cli/load_http.c, load_redis.c).
 *
 * Owns: its connections, the schedule of requests and the results.
 * Runs in: the CLI process, one libuv loop, one thread. Keep-alive
 *          connections, one request in flight on each; requests due while
 *          every connection is busy wait in order, their clock running.
 * Exit codes: 0 done, 1 more errors than --max-errors or the target could
 *             not be used at all, 2 usage error.
 */
#include "load.h"

#include <getopt.h>
#include <stdio.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "commands.h"
#include "core/config.h"

extern const struct load_proto load_http, load_redis;
static const struct load_proto *const protos[] = { &load_http, &load_redis };

const char load_usage[] =
	"usage: nodown load http URL --rate R --duration D [options]\n"
	"       nodown load redis HOST:PORT --rate R --duration D [options]\n"
	"\n"
	"Send R requests (or commands) per second for D, on a fixed schedule\n"
	"whatever the server does, and report errors by class and latency\n"
	"percentiles measured from each request's scheduled time.\n"
	"\n"
	"options:\n"
	"  -r, --rate R          requests per second (required)\n"
	"  -d, --duration D      how long, e.g. 10s or 2m (required)\n"
	"  -c, --connections C   keep-alive connections (default 16)\n"
	"  -t, --timeout D       a request with no response after D is an error\n"
	"                        (default 5s)\n"
	"      --max-errors N    exit 1 when there are more than N errors\n"
	"      --json            print the summary as JSON\n"
	"  -q, --quiet           no progress line\n"
	"  -h, --help            show this help\n"
	"\n"
	"http options:\n"
	"  -m, --method M        request method (default GET)\n"
	"  -b, --body STRING     request body (sent with Content-Length)\n"
	"  -H, --header 'K: V'   extra request header (repeatable)\n"
	"\n"
	"redis options:\n"
	"      --mix LIST        the command mix, e.g. set=1,get=3,incr=1 (default\n"
	"                        set=1,get=1); keys are nodown:load:<n>\n"
	"      --keys N          how many keys the commands spread over (default 1000)\n"
	"  -a, --password P      AUTH with P on every connection first\n"
	"\n"
	"Error classes: connect (refused, unreachable), reset (closed or reset\n"
	"before the response ended, or not the protocol), timeout; http: 5xx,\n"
	"4xx; redis: readonly (a write refused by a replica), err (any other\n"
	"error reply).\n";

struct lconn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq, lreq;
	struct load *ld;
	void *ps;			/* the protocol's state, owned */
	bool open;			/* tcp initialised and not yet closed */
	bool connected, connecting, closing, busy;
	uint64_t due_ns;		/* when the request in flight was scheduled */
	uint64_t sent_ns;		/* when it was written, for --timeout */
	uint64_t seq;			/* its number */
	char rbuf[16384];
};

struct load {
	const struct load_proto *proto;
	void *proto_arg;
	const char *err_names[LOAD_E_MAX];
	int nerr;
	uv_loop_t *loop;
	uv_timer_t tick;		/* every ms: timeouts, progress, the end */
	uv_prepare_t prepare;		/* every loop iteration: send what is due */
	uv_poll_t wake;			/* timerfd: wake at the next due time, to the microsecond */
	int tfd;
	struct sockaddr_storage addr;
	struct lconn *conns;
	int nconns;
	double rate;
	uint64_t start_ns, duration_ns, timeout_ns;
	uint64_t scheduled;		/* requests whose time has come */
	uint64_t started;		/* requests handed to a connection */
	uint64_t done, ok;
	uint64_t abandoned;		/* never sent: no connection free before the run's end + timeout */
	uint64_t errors[LOAD_E_MAX];
	uint32_t *lat_us;		/* one per finished request (ok or not), owned */
	size_t nlat, cap;
	bool quiet, stopping;
	uint64_t last_progress_ns;
};

static void start_next(struct lconn *lc);

static void record(struct load *ld, struct lconn *lc, int err)
{
	uint64_t us = (nd_now_ns() - lc->due_ns) / 1000;

	lc->busy = false;
	ld->done++;
	if (err >= 0)
		ld->errors[err]++;
	else
		ld->ok++;
	if (ld->nlat == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 65536;
		ld->lat_us = xrealloc(ld->lat_us, ld->cap * sizeof(uint32_t));
	}
	ld->lat_us[ld->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void closed_cb(uv_handle_t *h)
{
	struct lconn *lc = h->data;

	lc->closing = lc->open = false;
	lc->connected = lc->connecting = false;
	if (!lc->ld->stopping)
		start_next(lc);
}

static void drop(struct lconn *lc, int err)
{
	if (lc->busy)
		record(lc->ld, lc, err);
	if (lc->open && !lc->closing) {
		lc->closing = true;
		uv_close((uv_handle_t *)&lc->tcp, closed_cb);
	}
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct lconn *lc = h->data;

	ND_UNUSED(hint);
	*b = uv_buf_init(lc->rbuf, sizeof(lc->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct lconn *lc = s->data;
	int err = -1;

	if (n == 0)
		return;
	if (n < 0) {
		drop(lc, LOAD_E_RESET);	/* EOF while idle: not an error (busy false) */
		return;
	}
	if (!lc->busy) {
		drop(lc, LOAD_E_RESET);	/* bytes nobody asked for */
		return;
	}
	switch (lc->ld->proto->feed(lc->ps, b->base, (size_t)n, &err)) {
	case LOAD_MORE:
		return;
	case LOAD_DONE:
		record(lc->ld, lc, err);
		start_next(lc);
		return;
	case LOAD_DONE_CLOSE:
		record(lc->ld, lc, err);
		drop(lc, -1);
		return;
	case LOAD_BAD:
		drop(lc, LOAD_E_RESET);
		return;
	}
}

static void write_cb(uv_write_t *req, int status)
{
	if (status < 0)
		drop(req->data, LOAD_E_RESET);
}

/* The protocol's bytes p[0, n) out; false if the connection was dropped. */
static bool put(struct lconn *lc, uv_write_t *req, const char *p, size_t n)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

	if (uv_write(req, (uv_stream_t *)&lc->tcp, &b, 1, write_cb) < 0) {
		drop(lc, LOAD_E_RESET);
		return false;
	}
	return true;
}

static void send_request(struct lconn *lc)
{
	const char *p;
	size_t n;

	lc->busy = true;
	lc->sent_ns = nd_now_ns();
	lc->ld->proto->request(lc->ld->proto_arg, lc->ps, lc->seq, &p, &n);
	put(lc, &lc->wreq, p, n);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct lconn *lc = req->data;
	const char *p;
	size_t n;

	lc->connecting = false;
	if (status < 0) {
		if (status != UV_ECANCELED)
			drop(lc, LOAD_E_CONNECT);
		return;
	}
	lc->connected = true;
	uv_tcp_nodelay(&lc->tcp, 1);
	uv_read_start((uv_stream_t *)&lc->tcp, alloc_cb, read_cb);
	lc->ld->proto->opened(lc->ld->proto_arg, lc->ps, &p, &n);
	if (n && !put(lc, &lc->lreq, p, n))
		return;
	send_request(lc);
}

/* Give lc the oldest request that is due, connecting first if needed. */
static void start_next(struct lconn *lc)
{
	struct load *ld = lc->ld;

	if (lc->busy || lc->closing || lc->connecting || ld->stopping || ld->started >= ld->scheduled ||
	    (lc->open && !lc->connected))
		return;
	lc->due_ns = ld->start_ns + (uint64_t)((double)ld->started * 1e9 / ld->rate);
	lc->seq = ld->started++;
	if (lc->connected) {
		send_request(lc);
		return;
	}
	lc->busy = true;	/* the request is this connection's from now on */
	lc->connecting = true;
	uv_tcp_init(ld->loop, &lc->tcp);
	lc->open = true;
	lc->tcp.data = lc;
	if (uv_tcp_connect(&lc->creq, &lc->tcp, (struct sockaddr *)&ld->addr, connect_cb) < 0) {
		lc->connecting = false;
		drop(lc, LOAD_E_CONNECT);
	}
}

static uint32_t pct(struct load *ld, double q)
{
	size_t i;

	if (!ld->nlat)
		return 0;
	i = (size_t)(q * (double)(ld->nlat - 1) + 0.5);
	return ld->lat_us[i];
}

static void progress(struct load *ld, uint64_t now)
{
	uint64_t errs = 0;

	for (int e = 0; e < ld->nerr; e++)
		errs += ld->errors[e];
	fprintf(stderr, "\r  %5.1fs  sent %llu  ok %llu  errors %llu  waiting %llu   ",
		(double)(now - ld->start_ns) / 1e9, (unsigned long long)ld->started,
		(unsigned long long)ld->ok, (unsigned long long)errs,
		(unsigned long long)(ld->scheduled - ld->started));
	ld->last_progress_ns = now;
}

/* Requests whose time has come go to idle connections. */
static void schedule(struct load *ld, uint64_t now)
{
	uint64_t elapsed = now - ld->start_ns, due;

	if (elapsed < ld->duration_ns) {
		due = (uint64_t)((double)elapsed * ld->rate / 1e9) + 1;
		if (due > ld->scheduled)
			ld->scheduled = due;
	}
	for (int i = 0; i < ld->nconns && ld->started < ld->scheduled; i++)
		start_next(&ld->conns[i]);
}

/* Arm the timerfd for when the next request is due: libuv's own timers
 * have millisecond resolution, which would add up to 1 ms to every
 * latency at low rates. */
static void arm_wake(struct load *ld)
{
	uint64_t next = ld->start_ns + (uint64_t)((double)ld->scheduled * 1e9 / ld->rate);
	struct itimerspec its = { .it_value = { (time_t)(next / 1000000000ull), (long)(next % 1000000000ull) } };

	timerfd_settime(ld->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Every loop iteration, so a request is sent as soon as it is due. */
static void prepare_cb(uv_prepare_t *p)
{
	struct load *ld = p->data;

	if (!ld->stopping) {
		schedule(ld, nd_now_ns());
		arm_wake(ld);
	}
}

static void wake_cb(uv_poll_t *h, int status, int events)
{
	struct load *ld = h->data;
	uint64_t n;

	ND_UNUSED(status);
	ND_UNUSED(events);
	if (read(ld->tfd, &n, sizeof(n)) < 0)
		return;		/* EAGAIN: nothing expired */
}

static void tick_cb(uv_timer_t *t)
{
	struct load *ld = t->data;
	uint64_t now = nd_now_ns(), elapsed = now - ld->start_ns;
	bool busy = false;

	schedule(ld, now);
	if (elapsed >= ld->duration_ns + ld->timeout_ns && ld->started < ld->scheduled) {
		/* Overloaded target: what never got a connection within the run
		 * and its timeout is a timeout, not a reason to run forever. */
		uint64_t left = ld->scheduled - ld->started;

		ld->errors[LOAD_E_TIMEOUT] += left;
		ld->done += left;
		ld->abandoned += left;
		ld->started = ld->scheduled;
	}
	for (int i = 0; i < ld->nconns; i++) {
		struct lconn *lc = &ld->conns[i];

		if (lc->busy && now - lc->due_ns > ld->timeout_ns && now - lc->sent_ns > ld->timeout_ns)
			drop(lc, LOAD_E_TIMEOUT);
		start_next(lc);
		busy |= lc->busy;
	}
	if (!ld->quiet && now - ld->last_progress_ns > 1000000000ull)
		progress(ld, now);
	if (elapsed >= ld->duration_ns && !busy && ld->started >= ld->scheduled) {
		ld->stopping = true;
		uv_timer_stop(t);
		for (int i = 0; i < ld->nconns; i++)
			drop(&ld->conns[i], -1);
		uv_close((uv_handle_t *)t, NULL);
		uv_close((uv_handle_t *)&ld->prepare, NULL);
		uv_close((uv_handle_t *)&ld->wake, NULL);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t report(struct load *ld, bool json, double secs)
{
	static const double qs[] = { 0.5, 0.9, 0.99, 0.999, 1.0 };
	static const char *const qn[] = { "p50", "p90", "p99", "p99.9", "max" };
	uint64_t errs = 0;

	qsort(ld->lat_us, ld->nlat, sizeof(uint32_t), cmp_u32);
	for (int e = 0; e < ld->nerr; e++)
		errs += ld->errors[e];
	if (json) {
		printf("{\"requests\": %llu, \"ok\": %llu, \"errors\": %llu, \"error_classes\": {",
		       (unsigned long long)ld->done, (unsigned long long)ld->ok, (unsigned long long)errs);
		for (int e = 0; e < ld->nerr; e++)
			printf("%s\"%s\": %llu", e ? ", " : "", ld->err_names[e], (unsigned long long)ld->errors[e]);
		printf("}, \"unsent\": %llu, \"rate_target\": %.1f, \"rate_achieved\": %.1f, "
		       "\"duration_s\": %.3f, \"latency_ms\": {", (unsigned long long)ld->abandoned,
		       ld->rate, (double)(ld->done - ld->abandoned) / secs, secs);
		for (size_t i = 0; i < ARRAY_LEN(qs); i++)
			printf("%s\"%s\": %.3f", i ? ", " : "", qn[i], pct(ld, qs[i]) / 1000.0);
		printf("}}\n");
		return errs;
	}
	printf("requests %llu in %.2fs (%.1f/s sent, target %.1f/s): ok %llu, errors %llu",
	       (unsigned long long)ld->done, secs, (double)(ld->done - ld->abandoned) / secs, ld->rate,
	       (unsigned long long)ld->ok, (unsigned long long)errs);
	for (int e = 0; e < ld->nerr; e++)
		if (ld->errors[e])
			printf(" %s=%llu", ld->err_names[e], (unsigned long long)ld->errors[e]);
	if (ld->abandoned)
		printf("\n%llu requests were never sent: the target could not keep up with the rate",
		       (unsigned long long)ld->abandoned);
	printf("\nlatency from scheduled time:");
	for (size_t i = 0; i < ARRAY_LEN(qs); i++)
		printf(" %s %.3fms", qn[i], pct(ld, qs[i]) / 1000.0);
	printf("\n");
	return errs;
}

/* The common options, then the protocol's. */
static const struct option common_opts[] = {
	{ "rate", required_argument, NULL, 'r' }, { "duration", required_argument, NULL, 'd' },
	{ "connections", required_argument, NULL, 'c' }, { "timeout", required_argument, NULL, 't' },
	{ "max-errors", required_argument, NULL, 'E' }, { "json", no_argument, NULL, 'J' },
	{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
};

static int run(struct load *ld, bool json, long long max_errors)
{
	uint64_t errs;

	ld->loop = uv_default_loop();
	ld->conns = xcalloc((size_t)ld->nconns, sizeof(struct lconn));
	for (int i = 0; i < ld->nconns; i++) {
		struct lconn *lc = &ld->conns[i];

		lc->ld = ld;
		lc->creq.data = lc->wreq.data = lc->lreq.data = lc;
		lc->ps = xcalloc(1, ld->proto->state_size);
	}
	ld->quiet = ld->quiet || !isatty(2);
	uv_timer_init(ld->loop, &ld->tick);
	ld->tick.data = ld;
	ld->start_ns = ld->last_progress_ns = nd_now_ns();
	uv_timer_start(&ld->tick, tick_cb, 0, 1);
	uv_prepare_init(ld->loop, &ld->prepare);
	ld->prepare.data = ld;
	uv_prepare_start(&ld->prepare, prepare_cb);
	ld->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ld->tfd < 0)
		nd_die("timerfd_create failed");
	uv_poll_init(ld->loop, &ld->wake, ld->tfd);
	ld->wake.data = ld;
	uv_poll_start(&ld->wake, UV_READABLE, wake_cb);
	uv_run(ld->loop, UV_RUN_DEFAULT);
	if (!ld->quiet)
		fputc('\n', stderr);
	errs = report(ld, json, (double)(nd_now_ns() - ld->start_ns) / 1e9);
	close(ld->tfd);
	for (int i = 0; i < ld->nconns; i++)
		free(ld->conns[i].ps);
	free(ld->lat_us);
	free(ld->conns);
	if (max_errors >= 0 && (long long)errs > max_errors) {
		fprintf(stderr, "nodown load: %llu errors, more than --max-errors %lld\n",
			(unsigned long long)errs, max_errors);
		return 1;
	}
	return 0;
}

int cmd_load(int argc, char **argv)
{
	struct option opts[32];
	char shorts[64] = "r:d:c:t:qh";
	struct load ld = { .timeout_ns = 5000000000ull, .nconns = 16 };
	const struct load_proto *pr = NULL;
	long long max_errors = -1;
	bool json = false;
	size_t n = 0;
	uint64_t ms;
	int o, rc;

	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(load_usage, stdout);
		return 0;
	}
	for (size_t i = 0; argc >= 3 && i < ARRAY_LEN(protos); i++)
		if (!strcmp(argv[1], protos[i]->name))
			pr = protos[i];
	if (!pr)
		goto usage;
	memcpy(opts, common_opts, sizeof(common_opts));
	n = ARRAY_LEN(common_opts);
	for (const struct option *po = pr->opts; po->name; po++)
		opts[n++] = *po;
	memset(&opts[n], 0, sizeof(opts[n]));
	strcat(shorts, pr->shorts);
	ld.proto = pr;
	ld.proto_arg = xcalloc(1, pr->arg_size);
	ld.nerr = LOAD_E_PROTO + pr->nerr;
	ld.err_names[LOAD_E_CONNECT] = "connect";
	ld.err_names[LOAD_E_RESET] = "reset";
	ld.err_names[LOAD_E_TIMEOUT] = "timeout";
	for (int e = 0; e < pr->nerr; e++)
		ld.err_names[LOAD_E_PROTO + e] = pr->err_names[e];
	optind = 2;
	while ((o = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		switch (o) {
		case 'r': {
			char *end;

			ld.rate = strtod(optarg, &end);
			if (end == optarg || *end) {
				fprintf(stderr, "nodown load: --rate takes requests per second, such as 500, not '%s'\n",
					optarg);
				goto fail;
			}
			break;
		}
		case 'd':
			if (config_parse_duration(optarg, &ms) < 0 || !ms) {
				fprintf(stderr, "nodown load: --duration takes a duration such as 10s or 2m, not '%s'\n",
					optarg);
				goto fail;
			}
			ld.duration_ns = ms * 1000000ull;
			break;
		case 'c': ld.nconns = atoi(optarg); break;
		case 't':
			if (config_parse_duration(optarg, &ms) < 0 || !ms)
				goto usage;
			ld.timeout_ns = ms * 1000000ull;
			break;
		case 'E': max_errors = atoll(optarg); break;
		case 'J': json = true; break;
		case 'q': ld.quiet = true; break;
		case 'h': fputs(load_usage, stdout); free(ld.proto_arg); return 0;
		default:
			if (o == '?' || pr->option(ld.proto_arg, o, optarg) < 0)
				goto usage;
		}
	}
	if (argc - optind != 1 || ld.rate <= 0 || ld.rate > 1e7 || !ld.duration_ns || ld.nconns < 1 ||
	    ld.nconns > 10000)
		goto usage;
	if (pr->target(ld.proto_arg, argv[optind], &ld.addr) < 0) {
		free(ld.proto_arg);
		return 1;
	}
	rc = run(&ld, json, max_errors);
	if (pr->done)
		pr->done(ld.proto_arg);
	free(ld.proto_arg);
	return rc;
usage:
	fprintf(stderr, "nodown load: invalid arguments\n\n%s", load_usage);
fail:
	free(ld.proto_arg);
	return 2;
}
