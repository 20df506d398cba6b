/*
 * metrics.c - Prometheus text exposition (format 0.0.4) of listeners and
 * backends: counters end in _total, durations are in seconds, every
 * family has HELP and TYPE, labels are the config's names (which config
 * validation restricts to [A-Za-z0-9_.-], so no escaping is needed).
 *
 * Runs on: the control thread; reads the shared atomics, never locks.
 */
#include "metrics.h"

#include <stdarg.h>

#include "daemon.h"
#include "proto.h"
#include "switchover.h"

void metrics_put(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (size_t)n;
		t->p = xrealloc(t->p, t->cap);
	}
	t->len += (size_t)n;
}

void metrics_family(struct metrics_text *t, const char *name, const char *type, const char *help)
{
	metrics_put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample per backend of `name`, value from get(). */
static void per_backend(struct metrics_text *t, struct daemon *d, const char *name,
			unsigned long long (*get)(struct backend_live *))
{
	for (int p = 0; p < d->cfg->npools; p++)
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++)
			metrics_put(t, "%s{pool=\"%s\",backend=\"%s\"} %llu\n", name, d->cfg->pools[p].name,
			    d->cfg->pools[p].backends[b].name, get(d->live[p][b]));
}

static unsigned long long get_requests(struct backend_live *b) { return STAT_GET(b->requests); }
static unsigned long long get_failed(struct backend_live *b) { return STAT_GET(b->responses[0]); }
static unsigned long long get_retries(struct backend_live *b) { return STAT_GET(b->retries); }
static unsigned long long get_transitions(struct backend_live *b) { return STAT_GET(b->transitions); }
static unsigned long long get_conn_err(struct backend_live *b) { return STAT_GET(b->connect_errors); }
static unsigned long long get_active(struct backend_live *b) { return (unsigned long long)STAT_GET(b->active); }
static unsigned long long get_weight(struct backend_live *b) { return (unsigned long long)STAT_GET(b->weight); }
static unsigned long long get_up(struct backend_live *b) { return STAT_GET(b->health) == HEALTH_UP; }

static void listeners(struct metrics_text *t, struct daemon *d)
{
	static const char *const fams[4][2] = {
		{ "nodown_listener_connections_accepted_total", "Client connections accepted." },
		{ "nodown_listener_connections_refused_total",
		  "Client connections closed at once: max_connections reached, or out of file descriptors." },
		{ "nodown_listener_connections_active", "Client connections open now." },
		{ "nodown_listener_connections_reclaimed_total",
		  "Slow clients made to give up their buffers (408) for complete requests." },
	};

	for (int f = 0; f < 4; f++) {
		metrics_family(t, fams[f][0], f == 2 ? "gauge" : "counter", fams[f][1]);
		for (int i = 0; i < d->cfg->nlisteners; i++) {
			struct listener *l = d->snap->listeners[i];
			unsigned long long v = f == 0 ? atomic_load(&l->accepted) :
					       f == 1 ? atomic_load(&l->refused) :
					       f == 2 ? (unsigned long long)atomic_load(&l->active) :
							atomic_load(&l->reclaimed);

			metrics_put(t, "%s{listener=\"%s\"} %llu\n", fams[f][0], l->cfg->name, v);
		}
	}
}

static void states(struct metrics_text *t, struct daemon *d)
{
	static const char *const names[] = { "ready", "draining", "drained", "maint", "down" };

	metrics_family(t, "nodown_backend_state", "gauge",
	       "1 for the state the backend is in (ready, draining, drained, maint, down), else 0.");
	for (int p = 0; p < d->cfg->npools; p++)
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++)
			for (size_t s = 0; s < ARRAY_LEN(names); s++)
				metrics_put(t, "nodown_backend_state{pool=\"%s\",backend=\"%s\",state=\"%s\"} %d\n",
				    d->cfg->pools[p].name, d->cfg->pools[p].backends[b].name, names[s],
				    !strcmp(backend_state_name(d->live[p][b]), names[s]));
}

/* Backends of pools with a primary (proto->roles). */
static void roles(struct metrics_text *t, struct daemon *d)
{
	metrics_family(t, "nodown_backend_role", "gauge", "1 for the role health checks found (primary, standby, unknown).");
	for (int p = 0; p < d->cfg->npools; p++)
		for (int b = 0; d->cfg->pools[p].proto->roles && b < d->cfg->pools[p].nbackends; b++)
			for (int r = ROLE_UNKNOWN; r <= ROLE_STANDBY; r++)
				metrics_put(t, "nodown_backend_role{pool=\"%s\",backend=\"%s\",role=\"%s\"} %d\n",
				    d->cfg->pools[p].name, d->cfg->pools[p].backends[b].name, backend_role_name(r),
				    STAT_GET(d->live[p][b]->role) == r);
}

static void responses(struct metrics_text *t, struct daemon *d)
{
	metrics_family(t, "nodown_backend_responses_total", "counter",
	       "Responses received from the backend, by status class.");
	for (int p = 0; p < d->cfg->npools; p++)
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++)
			for (int k = 1; k <= 5; k++)
				metrics_put(t, "nodown_backend_responses_total{pool=\"%s\",backend=\"%s\",class=\"%dxx\"} %llu\n",
				    d->cfg->pools[p].name, d->cfg->pools[p].backends[b].name, k,
				    STAT_GET(d->live[p][b]->responses[k]));
}

static void latency(struct metrics_text *t, struct daemon *d)
{
	const char *n = "nodown_backend_response_duration_seconds";

	metrics_family(t, n, "histogram", "Time from a request's first byte to the end of its response.");
	for (int p = 0; p < d->cfg->npools; p++) {
		for (int b = 0; b < d->cfg->pools[p].nbackends; b++) {
			struct backend_live *lv = d->live[p][b];
			const char *pn = d->cfg->pools[p].name, *bn = d->cfg->pools[p].backends[b].name;
			unsigned long long cum = 0;

			for (int i = 0; i < BACKEND_LATENCY_BUCKETS; i++) {
				cum += STAT_GET(lv->latency[i]);
				if (i < BACKEND_LATENCY_BUCKETS - 1)
					metrics_put(t, "%s_bucket{pool=\"%s\",backend=\"%s\",le=\"%g\"} %llu\n", n, pn,
					    bn, backend_latency_bounds[i], cum);
				else
					metrics_put(t, "%s_bucket{pool=\"%s\",backend=\"%s\",le=\"+Inf\"} %llu\n", n,
					    pn, bn, cum);
			}
			metrics_put(t, "%s_sum{pool=\"%s\",backend=\"%s\"} %.6f\n", n, pn, bn,
			    (double)STAT_GET(lv->latency_sum_us) / 1e6);
			metrics_put(t, "%s_count{pool=\"%s\",backend=\"%s\"} %llu\n", n, pn, bn, cum);
		}
	}
}

char *metrics_render(struct daemon *d)
{
	struct metrics_text t = { xmalloc(16384), 0, 16384 };

	t.p[0] = '\0';
	static const struct {
		const char *name, *type, *help;
		unsigned long long (*get)(struct backend_live *);
	} simple[] = {
		{ "nodown_backend_requests_total", "counter", "Requests sent to the backend.", get_requests },
		{ "nodown_backend_failed_total", "counter",
		  "Exchanges that ended without a complete response (cut short, timeout, invalid response).",
		  get_failed },
		{ "nodown_backend_retries_total", "counter",
		  "Requests sent elsewhere or again after a failure on this backend.", get_retries },
		{ "nodown_backend_connect_errors_total", "counter",
		  "Connections to the backend refused, failed or timed out.", get_conn_err },
		{ "nodown_backend_transitions_total", "counter",
		  "Changes of state (operator) or health (checks, traffic).", get_transitions },
		{ "nodown_backend_in_flight", "gauge", "Requests in flight on the backend.", get_active },
		{ "nodown_backend_weight", "gauge", "Effective weight (operator or config).", get_weight },
		{ "nodown_backend_up", "gauge", "1 when health checks see the backend up.", get_up },
	};

	metrics_family(&t, "nodown_uptime_seconds", "gauge", "Seconds since the daemon started serving.");
	metrics_put(&t, "nodown_uptime_seconds %llu\n",
	    (unsigned long long)((uv_now(d->loop) - d->started_ms) / 1000));
	metrics_family(&t, "nodown_config_generation", "gauge", "Configs served so far: 1 at start, +1 per reload.");
	metrics_put(&t, "nodown_config_generation %u\n", d->snap->gen);
	metrics_family(&t, "nodown_config_reloads_total", "counter", "Reloads (SIGHUP or POST /reload) by result.");
	metrics_put(&t, "nodown_config_reloads_total{result=\"applied\"} %llu\n", d->reloads[1]);
	metrics_put(&t, "nodown_config_reloads_total{result=\"refused\"} %llu\n", d->reloads[0]);
	listeners(&t, d);
	for (size_t i = 0; i < ARRAY_LEN(simple); i++) {
		metrics_family(&t, simple[i].name, simple[i].type, simple[i].help);
		per_backend(&t, d, simple[i].name, simple[i].get);
	}
	responses(&t, d);
	states(&t, d);
	roles(&t, d);
	switchover_metrics(d, &t);
	for (int p = 0; p < d->cfg->npools; p++) {
		const struct proto_module *m = d->cfg->pools[p].proto;
		int q;

		for (q = 0; q < p && d->cfg->pools[q].proto != m; q++)
			;
		if (q == p && m->metrics)	/* once per protocol in use */
			m->metrics(d, &t);
	}
	latency(&t, d);
	return t.p;
}
