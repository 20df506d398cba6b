/*
 * load_redis.c - `nodown load redis HOST:PORT`: commands from a mix (set,
 * get, incr, del, ping) over --keys keys named nodown:load:<n>, each reply
 * read with the RESP reader of redis/resp.c. An error reply is an error:
 * READONLY (a write that reached a replica, as after a naive cut-over) is a
 * class of its own.
 */
#include <getopt.h>
#include <stdio.h>

#include "core/config.h"
#include "load.h"
#include "redis/resp.h"

enum { E_READONLY, E_ERR };
static const char *const redis_errs[] = { "readonly", "err" };

static const char *const verbs[] = { "set", "get", "incr", "del", "ping" };
#define NVERBS ARRAY_LEN(verbs)

struct redis_arg {
	int weight[NVERBS];
	int total;
	long keys;
	const char *password;
	char login[512];
	size_t login_len;
};

struct redis_state {
	struct resp_reader rd;
	int login_left;			/* replies to AUTH still to come */
	char head[16];			/* the first bytes of the reply being read */
	size_t head_len;
	char req[160];
};

static int parse_mix(struct redis_arg *a, const char *val)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", val);
	memset(a->weight, 0, sizeof(a->weight));
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		size_t v;
		int w = eq ? atoi(eq + 1) : 1;

		if (eq)
			*eq = '\0';
		for (v = 0; v < NVERBS && strcmp(item, verbs[v]); v++)
			;
		if (v == NVERBS || w < 0 || w > 1000) {
			fprintf(stderr, "nodown load: --mix takes COMMAND=WEIGHT items (set, get, incr, del, "
				"ping; weights 0-1000), not '%s'\n", val);
			return -1;
		}
		a->weight[v] = w;
	}
	return 0;
}

static int redis_option(void *arg, int o, const char *val)
{
	struct redis_arg *a = arg;

	switch (o) {
	case 'M': return parse_mix(a, val);
	case 'K':
		a->keys = atol(val);
		return a->keys >= 1 ? 0 : -1;
	case 'a': a->password = val; return 0;
	}
	return -1;
}

static int redis_target(void *arg, const char *target, struct sockaddr_storage *addr)
{
	struct redis_arg *a = arg;
	const char *why;

	if (config_parse_address(target, addr, &why) < 0) {
		fprintf(stderr, "nodown load: '%s' is not a usable address (HOST:PORT): %s\n", target, why);
		return -1;
	}
	a->total = 0;
	for (size_t v = 0; v < NVERBS; v++)
		a->total += a->weight[v];
	if (a->total == 0) {		/* no --mix: set=1,get=1 */
		a->weight[0] = a->weight[1] = 1;
		a->total = 2;
	}
	if (!a->keys)
		a->keys = 1000;
	if (a->password)
		a->login_len = (size_t)snprintf(a->login, sizeof(a->login), "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n",
						strlen(a->password), a->password);
	if (a->login_len >= sizeof(a->login)) {
		fprintf(stderr, "nodown load: --password is too long\n");
		return -1;
	}
	return 0;
}

static void redis_opened(void *arg, void *state, const char **p, size_t *n)
{
	static const struct resp_limits lim = { INT64_MAX, INT64_MAX, SIZE_MAX };
	const struct redis_arg *a = arg;
	struct redis_state *st = state;

	resp_reader_init(&st->rd, RESP_REPLY, &lim);
	st->head_len = 0;
	st->login_left = a->login_len ? 1 : 0;
	*p = a->login;
	*n = a->login_len;
}

/* Command seq: the verbs in turn by weight, over the keys in turn. */
static void redis_request(void *arg, void *state, uint64_t seq, const char **p, size_t *n)
{
	const struct redis_arg *a = arg;
	struct redis_state *st = state;
	long slot = (long)(seq % (uint64_t)a->total);
	size_t v = 0;
	char key[40];
	int kl;

	while (slot >= a->weight[v])
		slot -= a->weight[v++];
	kl = snprintf(key, sizeof(key), "nodown:load:%llu", (unsigned long long)(seq % (uint64_t)a->keys));
	switch (v) {
	case 0:		/* SET key seq */
		*n = (size_t)snprintf(st->req, sizeof(st->req), "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$20\r\n%020llu\r\n",
				      kl, key, (unsigned long long)seq);
		break;
	case 4:
		*n = (size_t)snprintf(st->req, sizeof(st->req), "*1\r\n$4\r\nPING\r\n");
		break;
	default:	/* GET, INCR, DEL key */
		*n = (size_t)snprintf(st->req, sizeof(st->req), "*2\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
				      strlen(verbs[v]), v == 1 ? "GET" : v == 2 ? "INCR" : "DEL", kl, key);
	}
	*p = st->req;
}

/* One reply ended: its class (-1: not an error). */
static int classify(const struct redis_state *st)
{
	if (st->head_len == 0 || st->head[0] != '-')
		return -1;
	if (st->head_len >= 9 && !memcmp(st->head, "-READONLY", 9))
		return LOAD_E_PROTO + E_READONLY;
	return LOAD_E_PROTO + E_ERR;
}

static enum load_feed redis_feed(void *state, const char *p, size_t n, int *err)
{
	struct redis_state *st = state;

	while (n > 0) {
		size_t used, keep;
		const char *why;
		enum resp_result r;

		if (!resp_in_value(&st->rd))
			st->head_len = 0;
		r = resp_feed(&st->rd, p, n, &used, &why);
		if (r == RESP_ERROR)
			return LOAD_BAD;
		keep = used < sizeof(st->head) - st->head_len ? used : sizeof(st->head) - st->head_len;
		memcpy(st->head + st->head_len, p, keep);
		st->head_len += keep;
		p += used;
		n -= used;
		if (r == RESP_MORE)
			return LOAD_MORE;
		if (st->login_left > 0) {	/* AUTH's answer: a refusal fails every command */
			st->login_left--;
			if (classify(st) >= 0) {
				*err = LOAD_E_PROTO + E_ERR;
				return LOAD_DONE_CLOSE;
			}
			continue;
		}
		*err = classify(st);
		return n ? LOAD_BAD : LOAD_DONE;	/* more than asked for */
	}
	return LOAD_MORE;
}

static const struct option redis_opts[] = {
	{ "mix", required_argument, NULL, 'M' }, { "keys", required_argument, NULL, 'K' },
	{ "password", required_argument, NULL, 'a' }, { NULL, 0, NULL, 0 },
};

const struct load_proto load_redis = {
	.name = "redis", .err_names = redis_errs, .nerr = 2,
	.opts = redis_opts, .shorts = "a:", .arg_size = sizeof(struct redis_arg),
	.option = redis_option, .target = redis_target,
	.state_size = sizeof(struct redis_state),
	.opened = redis_opened, .request = redis_request, .feed = redis_feed,
};
