/*
 * fuzz_config.c - libFuzzer target for core/config.c.
 *
 * Loads arbitrary bytes with config_load_string, then frees the config and
 * the error list; ASan's leak check makes any leak on any path a crash.
 * Aborts (a bug) when the result is inconsistent: success with errors or
 * without a config, failure without an error or with a config, a message
 * not in "fuzz.yml:LINE:COL: text" form, or an accepted config that breaks
 * an invariant the daemon relies on without re-checking.
 *
 * Name resolution is kept off the network: getaddrinfo is wrapped so that
 * only numeric hosts and "localhost" resolve (a fuzzer must not send DNS
 * queries, and a slow resolver would make it useless).
 */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/proto.h"
#include "http/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* UBSan findings stop the run like ASan's do (the build does not pass
 * -fno-sanitize-recover). */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static gai_fn real;
	struct addrinfo h;

	if (!real)
		real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
	BUG_ON(!real);
	if (hints)
		h = *hints;
	else
		memset(&h, 0, sizeof(h));
	h.ai_flags |= AI_NUMERICHOST;
	if (node && !strcmp(node, "localhost"))
		node = "127.0.0.1";
	return real(node, service, &h, res);
}

static void check_messages(const struct errlist *e)
{
	for (int i = 0; i < e->n; i++) {
		const char *m = e->msgs[i];
		int line = 0, col = 0, used = 0;

		BUG_ON(!m);
		BUG_ON(strncmp(m, "fuzz.yml:", 9) != 0);
		BUG_ON(sscanf(m + 9, "%d:%d: %n", &line, &col, &used) != 2);
		BUG_ON(line < 1 || col < 1 || used == 0 || m[9 + used] == '\0');
	}
}

static void check_config(const struct config *c)
{
	BUG_ON(c->workers < 1 || c->workers > 4096);
	BUG_ON(!c->path || !c->admin_socket || !c->access_log || !c->error_log);
	BUG_ON(c->nlisteners < 1 || c->npools < 1);
	for (int i = 0; i < c->npools; i++) {
		const struct pool_cfg *p = &c->pools[i];

		BUG_ON(!p->name || p->index != i || p->nbackends < 1);
		BUG_ON(!p->proto || !p->pcfg || !p->health.probe || !p->health.probe_cfg);
		BUG_ON(p->connect_timeout_ms == 0 || p->idle_timeout_ms == 0);
		BUG_ON(p->proto == &http_module && http_pool(p)->response_timeout_ms == 0);
		for (int j = 0; j < i; j++)
			BUG_ON(!strcmp(c->pools[j].name, p->name));
		for (int b = 0; b < p->nbackends; b++) {
			const struct backend_cfg *be = &p->backends[b];

			BUG_ON(!be->name || !be->address || be->index != b);
			BUG_ON(be->weight < 1 || be->weight > 1000);
			for (int j = 0; j < b; j++)
				BUG_ON(!strcmp(p->backends[j].name, be->name));
		}
	}
	for (int i = 0; i < c->nlisteners; i++) {
		const struct listener_cfg *l = &c->listeners[i];

		BUG_ON(!l->name || !l->bind || !l->pool_name || !l->pool || l->index != i);
		BUG_ON(l->pool < c->pools || l->pool >= c->pools + c->npools);
		BUG_ON(strcmp(l->pool->name, l->pool_name) != 0);
		BUG_ON(!l->proto || !l->pcfg || l->proto != l->pool->proto);
		if (l->proto == &http_module) {
			const struct http_listener_cfg *h = http_listener(l);

			BUG_ON(h->max_header_size + 1024 > c->buffer_size);
			BUG_ON(h->max_target_size >= h->max_header_size);
			BUG_ON(h->header_timeout_ms == 0 || h->idle_timeout_ms == 0 ||
			       h->client_timeout_ms == 0);
		}
		for (int j = 0; j < i; j++)
			BUG_ON(!strcmp(c->listeners[j].name, l->name));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errlist e = { 0 };
	struct config *c = (struct config *)1;
	int r;

	r = config_load_string("fuzz.yml", (const char *)data, size, &c, &e);
	if (r == 0) {
		BUG_ON(!c || e.n != 0);
		check_config(c);
	} else {
		BUG_ON(r != -EINVAL);
		BUG_ON(c != NULL || e.n == 0);
		check_messages(&e);
	}
	config_free(c);
	errlist_free(&e);
	BUG_ON(e.n != 0 || e.msgs != NULL);
	return 0;
}
