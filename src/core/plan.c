/*
 * plan.c - reading, checking and resolving a release plan (see plan.h).
 *
 * Owns: struct plan and its resolved steps.
 * Invariants: a plan that loads names only pools in its scope, and only
 *             pools and backends the config it was checked against has;
 *             every {var} is filled in; no batch can take more than
 *             max_unavailable backends of its pool out, nor the last one.
 *             Every problem is reported at the node written, all in one go.
 * Runs on: the control thread, and `nodown check`.
 */
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "proto.h"
#include "schema.h"

#define PLAN_MAX_STEPS 10000
#define PLAN_MAX_BYTES (1 << 20)
#define WAIT_DEFAULT_MS 60000
#define EXEC_DEFAULT_MS 60000
#define PAUSE_DEFAULT_MS 30000

static const char *const kind_names[] = {
	"batch", "drain", "ready", "maint", "weight", "wait_drained", "wait_healthy",
	"exec", "sleep", "pause", "resume", "switchover", "verify", "approve",
};

const char *plan_kind_name(enum pstep_kind k)
{
	return kind_names[k];
}

/* The plan being read. */
struct pctx {
	struct cctx cx;
	const struct config *cfg;
	struct plan *p;
	struct pstep **out;		/* the list being built: steps or rollback */
	int *n, cap;
	/* inside a rolling block: the pool and the current backend */
	const struct pool_cfg *rpool;
	const struct backend_cfg *rbe;
	int gate;			/* ... and the index of its batch's gate, else -1 */
};

/* Every key a step's mapping may take; each kind takes some (see kinds). */
struct sargs {
	char *target, *pool, *to, *run, *load, *message, *rate, *since;
	uint64_t timeout_ms, for_ms, pause_ms;
	int value, max_errors, batch, max_unavailable;
	yaml_node_t *env, *backends, *do_;
};

static void node_arg(struct cctx *cx, yaml_node_t *v, void *target, size_t off)
{
	ND_UNUSED(cx);
	*(yaml_node_t **)(void *)((char *)target + off) = v;
}

static void env_arg(struct cctx *cx, yaml_node_t *v, void *t) { node_arg(cx, v, t, offsetof(struct sargs, env)); }
static void backends_arg(struct cctx *cx, yaml_node_t *v, void *t) { node_arg(cx, v, t, offsetof(struct sargs, backends)); }
static void do_arg(struct cctx *cx, yaml_node_t *v, void *t) { node_arg(cx, v, t, offsetof(struct sargs, do_)); }

#define A(f) offsetof(struct sargs, f)
#define F_TARGET { .key = "target", .type = F_STR, .off = A(target) }
#define F_POOL { .key = "pool", .type = F_NAME, .off = A(pool) }
#define F_TIMEOUT { .key = "timeout", .type = F_DURATION, .off = A(timeout_ms), .min = 1, .max = DUR_MAX }

static const struct field target_keys[] = { F_TARGET, F_POOL };
static const struct field wait_keys[] = { F_TARGET, F_POOL, F_TIMEOUT };
static const struct field weight_keys[] = {
	F_TARGET, F_POOL,
	{ .key = "value", .type = F_INT, .off = A(value), .min = 0, .max = 1000, .required = true },
};
static const struct field exec_keys[] = {
	{ .key = "run", .type = F_STR, .off = A(run), .required = true }, F_TIMEOUT,
	{ .key = "env", .type = F_CUSTOM, .fn = env_arg },
};
static const struct field pause_keys[] = { F_POOL, F_TIMEOUT };
static const struct field resume_keys[] = { F_POOL };
static const struct field switchover_keys[] = {
	F_POOL, { .key = "to", .type = F_STR, .off = A(to), .required = true },
	{ .key = "pause_timeout", .type = F_DURATION, .off = A(pause_ms), .min = 1, .max = DUR_MAX },
};
static const struct field verify_keys[] = {
	F_POOL,
	{ .key = "max_errors", .type = F_INT, .off = A(max_errors), .min = 0, .max = 1000000000 },
	{ .key = "max_error_rate", .type = F_STR, .off = A(rate) },
	{ .key = "since", .type = F_STR, .off = A(since) },
	{ .key = "for", .type = F_DURATION, .off = A(for_ms), .min = 0, .max = DUR_MAX },
	{ .key = "load", .type = F_STR, .off = A(load) }, F_TIMEOUT,
};
static const struct field approve_keys[] = { { .key = "message", .type = F_STR, .off = A(message) }, F_TIMEOUT };
static const struct field rolling_keys[] = {
	{ .key = "pool", .type = F_NAME, .off = A(pool), .required = true },
	{ .key = "backends", .type = F_CUSTOM, .fn = backends_arg },
	{ .key = "batch", .type = F_INT, .off = A(batch), .min = 1, .max = 1000 },
	{ .key = "max_unavailable", .type = F_INT, .off = A(max_unavailable), .min = 1, .max = 1000 },
	{ .key = "do", .type = F_CUSTOM, .fn = do_arg, .required = true },
};
#undef F_TARGET
#undef F_POOL
#undef F_TIMEOUT
#undef A

/* A step kind: its keys, and which key a scalar (`drain: web1`) sets. */
struct kind {
	const char *name;
	enum pstep_kind kind;		/* -1: rolling */
	const struct field *keys;
	size_t nkeys;
	size_t scalar_off;		/* (size_t)-1: a mapping only */
};

#define K(n, k, keys, off) { n, k, keys, ARRAY_LEN(keys), off }
static const struct kind kinds[] = {
	K("drain", PS_DRAIN, target_keys, offsetof(struct sargs, target)),
	K("ready", PS_READY, target_keys, offsetof(struct sargs, target)),
	K("maint", PS_MAINT, target_keys, offsetof(struct sargs, target)),
	K("weight", PS_WEIGHT, weight_keys, (size_t)-1),
	K("wait_drained", PS_WAIT_DRAINED, wait_keys, offsetof(struct sargs, target)),
	K("wait_healthy", PS_WAIT_HEALTHY, wait_keys, offsetof(struct sargs, target)),
	K("exec", PS_EXEC, exec_keys, offsetof(struct sargs, run)),
	K("sleep", PS_SLEEP, target_keys, (size_t)-2),	/* a duration only */
	K("pause", PS_PAUSE, pause_keys, offsetof(struct sargs, pool)),
	K("resume", PS_RESUME, resume_keys, offsetof(struct sargs, pool)),
	K("switchover", PS_SWITCHOVER, switchover_keys, (size_t)-1),
	K("verify", PS_VERIFY, verify_keys, (size_t)-1),
	K("approve", PS_APPROVE, approve_keys, offsetof(struct sargs, message)),
	K("rolling", (enum pstep_kind)-1, rolling_keys, (size_t)-1),
};
#undef K

static void sargs_free(struct sargs *a)
{
	free(a->target);
	free(a->pool);
	free(a->to);
	free(a->run);
	free(a->load);
	free(a->message);
	free(a->rate);
	free(a->since);
}

/* ---- names ----------------------------------------------------------------------- */

static bool in_scope(const struct plan *p, const char *pool)
{
	for (int i = 0; i < p->nscope; i++)
		if (!strcmp(p->scope[i], pool))
			return true;
	return false;
}

/* The pool named at node n: in the scope and the config, else reported. */
static const struct pool_cfg *scoped_pool(struct pctx *pc, yaml_node_t *n, const char *name)
{
	const struct pool_cfg *pool;

	if (!in_scope(pc->p, name)) {
		CFG_ERR(&pc->cx, n, "this step names pool '%s', outside the plan's scope; add it to 'scope' "
			"if the plan may touch it", name);
		return NULL;
	}
	pool = config_pool(pc->cfg, name);
	if (!pool)	/* the scope's own check names it */
		return NULL;
	return pool;
}

/* ---- {var} ------------------------------------------------------------------------- */

/* s with {backend}, {address}, {pool} and {plan} filled in ("{{" is a
 * '{'; a brace around anything but a lower-case name, a shell's { ...; },
 * is left as it is), malloc'd; NULL after reporting an unknown or
 * unavailable name. */
static char *subst(struct pctx *pc, yaml_node_t *n, const char *s)
{
	size_t cap = strlen(s) + 1, len = 0;
	char *out = xmalloc(cap);

	while (*s) {
		const char *val = NULL, *end;
		char var[32], one[2] = "";
		size_t vl;

		if (s[0] == '{' && s[1] == '{') {
			val = "{";
			s += 2;
		} else if (*s == '{' && (end = strchr(s, '}')) && end > s + 1 && (size_t)(end - s) < sizeof(var) &&
			   strspn(s + 1, "abcdefghijklmnopqrstuvwxyz_") == (size_t)(end - s - 1)) {
			memcpy(var, s + 1, (size_t)(end - s - 1));
			var[end - s - 1] = '\0';
			if (!strcmp(var, "plan"))
				val = pc->p->name;
			else if (pc->rbe && !strcmp(var, "backend"))
				val = pc->rbe->name;
			else if (pc->rbe && !strcmp(var, "address"))
				val = pc->rbe->address;
			else if (pc->rpool && !strcmp(var, "pool"))
				val = pc->rpool->name;
			if (!val) {
				CFG_ERR(&pc->cx, n, "'{%s}' is %s", var,
					!strcmp(var, "backend") || !strcmp(var, "address") || !strcmp(var, "pool") ?
					"only known inside a rolling block's 'do'" :
					"not a known value (known: {backend}, {address}, {pool} inside rolling; {plan})");
				free(out);
				return NULL;
			}
			s = end + 1;
		} else {
			one[0] = *s++;
			val = one;
		}
		vl = strlen(val);
		if (len + vl + 1 > cap)
			out = xrealloc(out, cap = 2 * (len + vl + 1));
		memcpy(out + len, val, vl + 1);
		len += vl;
	}
	out[len] = '\0';
	return out;
}

/* ---- steps ------------------------------------------------------------------------- */

static struct pstep *push(struct pctx *pc, enum pstep_kind k, yaml_node_t *n)
{
	struct pstep *st;

	if (*pc->n >= PLAN_MAX_STEPS) {
		if (*pc->n == PLAN_MAX_STEPS)
			CFG_ERR(&pc->cx, n, "the plan resolves to more than %d steps", PLAN_MAX_STEPS);
		++*pc->n;
		return NULL;
	}
	if (*pc->n >= pc->cap) {
		pc->cap = pc->cap ? 2 * pc->cap : 16;
		*pc->out = xrealloc(*pc->out, (size_t)pc->cap * sizeof(**pc->out));
	}
	st = &(*pc->out)[(*pc->n)++];
	memset(st, 0, sizeof(*st));
	st->kind = k;
	st->line = (int)n->start_mark.line + 1;
	st->max_errors = -1;
	st->max_rate = -1;
	st->gate = pc->gate;
	return st;
}

static void set_text(struct pstep *st, const char *fmt, ...) ND_PRINTF(2, 3);
static void set_text(struct pstep *st, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	st->text = xstrdup(buf);
}

/* The pool of a step that names one by `pool:` (or is inside rolling, or
 * the scope has one pool). */
static const struct pool_cfg *step_pool(struct pctx *pc, yaml_node_t *n, const char *pool)
{
	if (pool)
		return scoped_pool(pc, n, pool);
	if (pc->rpool)
		return pc->rpool;
	if (pc->p->nscope == 1)
		return scoped_pool(pc, n, pc->p->scope[0]);
	CFG_ERR(&pc->cx, n, "which pool? the scope has %d; add 'pool: NAME'", pc->p->nscope);
	return NULL;
}

/* target ("BACKEND" or "POOL/BACKEND", {vars} filled in) into st. */
static bool resolve_target(struct pctx *pc, yaml_node_t *n, const char *target, const char *pool,
			   struct pstep *st)
{
	char *t = subst(pc, n, target), *slash;
	const struct pool_cfg *pcfg;
	bool ok = false;

	if (!t)
		return false;
	slash = strchr(t, '/');
	if (slash)
		*slash = '\0';
	if (slash && pool && strcmp(pool, t)) {
		CFG_ERR(&pc->cx, n, "the target names pool '%s' and 'pool' says '%s'", t, pool);
	} else if ((pcfg = slash ? scoped_pool(pc, n, t) : step_pool(pc, n, pool))) {
		const char *be = slash ? slash + 1 : t;

		if (!config_backend(pcfg, be)) {
			CFG_ERR(&pc->cx, n, "pool '%s' has no backend '%s'", pcfg->name, be);
		} else {
			st->pool = xstrdup(pcfg->name);
			st->backend = xstrdup(be);
			ok = true;
		}
	}
	free(t);
	return ok;
}

/* A ratio: "1%", "0.5%" or "0.01"; -1 if malformed. */
static double parse_rate(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return -1;
	if (*end == '%' && !end[1])
		v /= 100;
	else if (*end)
		return -1;
	return v <= 1 ? v : -1;
}

static bool env_name_ok(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen(s);
}

static void read_env(struct pctx *pc, yaml_node_t *env, struct pstep *st)
{
	yaml_document_t *doc = pc->cx.doc;

	if (env->type != YAML_MAPPING_NODE) {
		CFG_ERR(&pc->cx, env, "'env' must be a mapping of NAME: value, not %s", schema_node_type(env));
		return;
	}
	for (yaml_node_pair_t *q = env->data.mapping.pairs.start; q < env->data.mapping.pairs.top; q++) {
		yaml_node_t *k = yaml_document_get_node(doc, q->key), *v = yaml_document_get_node(doc, q->value);
		char *val, *kv;

		if (k->type != YAML_SCALAR_NODE || !env_name_ok(schema_scalar(k))) {
			CFG_ERR(&pc->cx, k, "an environment name is letters, digits and '_', not starting with a digit");
			continue;
		}
		if (!schema_want_scalar(&pc->cx, v, schema_scalar(k), "a string") || !(val = subst(pc, v, schema_scalar(v))))
			continue;
		kv = xmalloc(strlen(schema_scalar(k)) + strlen(val) + 2);
		sprintf(kv, "%s=%s", schema_scalar(k), val);
		free(val);
		st->env = xrealloc(st->env, (size_t)(st->nenv + 1) * sizeof(*st->env));
		st->env[st->nenv++] = kv;
	}
}

static void one_step(struct pctx *pc, yaml_node_t *n);

/* The backends of a rolling block, in order: those listed, or the pool's. */
static const struct backend_cfg **rolling_backends(struct pctx *pc, const struct pool_cfg *pool,
						   yaml_node_t *list, int *count)
{
	const struct backend_cfg **out;
	int n = 0;

	if (!list) {
		out = xcalloc((size_t)pool->nbackends, sizeof(*out));
		for (int i = 0; i < pool->nbackends; i++)
			out[n++] = &pool->backends[i];
		*count = n;
		return out;
	}
	if (list->type != YAML_SEQUENCE_NODE || list->data.sequence.items.top == list->data.sequence.items.start) {
		CFG_ERR(&pc->cx, list, "'backends' must be a list of backend names of pool '%s'", pool->name);
		return NULL;
	}
	out = xcalloc((size_t)(list->data.sequence.items.top - list->data.sequence.items.start), sizeof(*out));
	for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *v = yaml_document_get_node(pc->cx.doc, *it);
		const struct backend_cfg *be;

		if (!schema_want_scalar(&pc->cx, v, "backends", "a backend name"))
			continue;
		if (!(be = config_backend(pool, schema_scalar(v)))) {
			CFG_ERR(&pc->cx, v, "pool '%s' has no backend '%s'", pool->name, schema_scalar(v));
			continue;
		}
		for (int i = 0; i < n; i++)
			if (out[i] == be)
				CFG_ERR(&pc->cx, v, "backend '%s' is listed twice", be->name);
		out[n++] = be;
	}
	*count = n;
	return out;
}

static void read_rolling(struct pctx *pc, yaml_node_t *n, struct sargs *a)
{
	const struct pool_cfg *pool;
	const struct backend_cfg **bes;
	int nbes = 0, nerr = pc->cx.errs->n;

	if (pc->rpool) {
		CFG_ERR(&pc->cx, n, "a rolling block cannot hold another");
		return;
	}
	if (!a->pool || !a->do_ || !(pool = scoped_pool(pc, n, a->pool)))
		return;
	if (a->do_->type != YAML_SEQUENCE_NODE || a->do_->data.sequence.items.top == a->do_->data.sequence.items.start) {
		CFG_ERR(&pc->cx, a->do_, "'do' must be a list of steps for each backend");
		return;
	}
	if (!a->max_unavailable)
		a->max_unavailable = a->batch ? a->batch : 1;
	if (!a->batch)
		a->batch = 1;
	if (a->batch > a->max_unavailable)
		CFG_ERR(&pc->cx, n, "a batch of %d takes %d backends out at once, more than max_unavailable (%d)",
			a->batch, a->batch, a->max_unavailable);
	if (a->max_unavailable >= pool->nbackends)
		CFG_ERR(&pc->cx, n, "max_unavailable %d of pool '%s''s %d backend%s could leave it no ready "
			"backend; at most %d", a->max_unavailable, pool->name, pool->nbackends,
			pool->nbackends == 1 ? "" : "s", pool->nbackends - 1);
	if (!(bes = rolling_backends(pc, pool, a->backends, &nbes)) || pc->cx.errs->n != nerr) {
		free(bes);
		return;
	}
	for (int b0 = 0, k = 1; b0 < nbes && pc->cx.errs->n == nerr; b0 += a->batch, k++) {
		int nb = nbes - b0 < a->batch ? nbes - b0 : a->batch;
		struct pstep *gate = push(pc, PS_GATE, n);
		char names[768] = "";

		if (!gate)
			break;
		gate->pool = xstrdup(pool->name);
		gate->max_unavailable = a->max_unavailable;
		gate->batch = xcalloc((size_t)nb, sizeof(char *));
		for (int i = 0; i < nb; i++) {
			gate->batch[gate->nbatch++] = xstrdup(bes[b0 + i]->name);
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
				 bes[b0 + i]->name);
		}
		set_text(gate, "batch %d/%d of %s: %s", k, (nbes + a->batch - 1) / a->batch, pool->name, names);
		pc->rpool = pool;
		pc->gate = *pc->n - 1;
		for (yaml_node_item_t *it = a->do_->data.sequence.items.start; it < a->do_->data.sequence.items.top; it++)
			for (int i = 0; i < nb; i++) {
				pc->rbe = bes[b0 + i];
				one_step(pc, yaml_document_get_node(pc->cx.doc, *it));
			}
		pc->rpool = NULL;
		pc->rbe = NULL;
		pc->gate = -1;
	}
	free(bes);
}

/* The pool of a pause or resume (one whose protocol can hold new work),
 * or of a switchover (one whose protocol has one). */
static const struct pool_cfg *pool_for(struct pctx *pc, yaml_node_t *n, const char *pool, bool switchover)
{
	const struct pool_cfg *pcfg = step_pool(pc, n, pool);

	if (pcfg && (switchover ? !pcfg->proto->switchover : !pcfg->proto->pausable)) {
		CFG_ERR(&pc->cx, n, "pool '%s' speaks %s, which has no %s", pcfg->name, pcfg->proto->name,
			switchover ? "switchover (pools with a primary have one)" : "pause");
		return NULL;
	}
	return pcfg;
}

static void read_verify(struct pctx *pc, yaml_node_t *n, struct sargs *a, struct pstep *st)
{
	const struct pool_cfg *pool = NULL;
	char what[512] = "";
	size_t w;

	if (a->max_errors >= 0 || a->rate) {
		if (!(pool = step_pool(pc, n, a->pool)))
			return;
		st->pool = xstrdup(pool->name);
	}
	if (a->rate && (st->max_rate = parse_rate(a->rate)) < 0)
		CFG_ERR(&pc->cx, n, "'max_error_rate' must be a ratio such as 1%%, 0.5%% or 0.01, not '%s'", a->rate);
	if (a->since && strcmp(a->since, "plan") && strcmp(a->since, "step"))
		CFG_ERR(&pc->cx, n, "'since' is 'plan' (errors since the plan began, the default) or 'step'");
	if (a->max_errors < 0 && !a->rate && !a->load)
		CFG_ERR(&pc->cx, n, "verify checks something: max_errors, max_error_rate (for a pool) or load "
			"(the arguments of a 'nodown load' run)");
	st->max_errors = a->max_errors;
	st->since_step = a->since && !strcmp(a->since, "step");
	if (st->since_step && !a->for_ms)
		CFG_ERR(&pc->cx, n, "'since: step' counts errors while the step watches: give 'for' (such as 30s)");
	st->ms = a->for_ms;
	if (pool && a->max_errors >= 0)
		snprintf(what, sizeof(what), " errors <= %d", a->max_errors);
	if (pool && a->rate)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s error rate <= %s",
			 a->max_errors >= 0 ? "," : "", a->rate);
	if (pool)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " since the %s%s",
			 st->since_step ? "step" : "plan began", a->for_ms ? ", watched for " : "");
	if (pool && a->for_ms)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), "%llums", (unsigned long long)a->for_ms);
	if (a->load && (st->run = subst(pc, n, a->load))) {
		st->ms = a->timeout_ms ? a->timeout_ms : 10 * 60000;
		w = strlen(what);
		snprintf(what + w, sizeof(what) - w, "%snodown load %s", w ? "; " : " ", st->run);
	}
	set_text(st, "verify%s%s%s", pool ? " " : "", pool ? pool->name : "", what);
}

/* The step's kind-specific part, its args read (a). */
static void build(struct pctx *pc, yaml_node_t *n, const struct kind *k, struct sargs *a)
{
	struct pstep *st;
	const struct pool_cfg *pool;

	if ((int)k->kind < 0) {
		read_rolling(pc, n, a);
		return;
	}
	if ((k->kind == PS_EXEC && !a->run) || (k->kind == PS_SWITCHOVER && !a->to))
		return;		/* the required key's absence is reported */
	if (!(st = push(pc, k->kind, n)))
		return;
	switch (k->kind) {
	case PS_DRAIN: case PS_READY: case PS_MAINT: case PS_WEIGHT:
	case PS_WAIT_DRAINED: case PS_WAIT_HEALTHY:
		if (!a->target) {
			CFG_ERR(&pc->cx, n, "'%s' needs a target: a backend name, or POOL/BACKEND", k->name);
			break;
		}
		if (!resolve_target(pc, n, a->target, a->pool, st))
			break;
		st->value = a->value;
		st->ms = a->timeout_ms ? a->timeout_ms : WAIT_DEFAULT_MS;
		if (k->kind == PS_WEIGHT)
			set_text(st, "weight %s/%s %d", st->pool, st->backend, st->value);
		else if (k->kind == PS_WAIT_DRAINED || k->kind == PS_WAIT_HEALTHY)
			set_text(st, "%s %s/%s (at most %llus)", k->name, st->pool, st->backend,
				 (unsigned long long)(st->ms + 999) / 1000);
		else
			set_text(st, "%s %s/%s", k->name, st->pool, st->backend);
		break;
	case PS_EXEC:
		st->run = subst(pc, n, a->run);
		st->ms = a->timeout_ms ? a->timeout_ms : EXEC_DEFAULT_MS;
		if (a->env)
			read_env(pc, a->env, st);
		if (pc->rbe) {	/* NODOWN_POOL, NODOWN_BACKEND */
			st->pool = xstrdup(pc->rpool->name);
			st->backend = xstrdup(pc->rbe->name);
		}
		if (st->run)
			set_text(st, "exec %s", st->run);
		break;
	case PS_SLEEP:
		st->ms = a->timeout_ms;
		set_text(st, "sleep %llums", (unsigned long long)st->ms);
		break;
	case PS_PAUSE: case PS_RESUME:
		if ((pool = pool_for(pc, n, a->pool, false))) {
			st->pool = xstrdup(pool->name);
			st->ms = a->timeout_ms ? a->timeout_ms : PAUSE_DEFAULT_MS;
			set_text(st, "%s %s", k->name, pool->name);
		}
		break;
	case PS_SWITCHOVER:
		if ((pool = pool_for(pc, n, a->pool, true))) {
			char *to = subst(pc, n, a->to);

			if (to && !config_backend(pool, to)) {
				CFG_ERR(&pc->cx, n, "pool '%s' has no backend '%s' to switch over to", pool->name, to);
			} else if (to) {
				st->pool = xstrdup(pool->name);
				st->backend = xstrdup(to);
				st->ms = a->pause_ms;
				set_text(st, "switchover %s to %s", pool->name, to);
			}
			free(to);
		}
		break;
	case PS_VERIFY:
		read_verify(pc, n, a, st);
		break;
	case PS_APPROVE:
		st->run = a->message ? subst(pc, n, a->message) : NULL;
		st->ms = a->timeout_ms;
		set_text(st, "approve%s%s", st->run ? ": " : "", st->run ? st->run : "");
		break;
	case PS_GATE:
		break;
	}
}

/* One step: `- KIND: value` with value a scalar or a mapping of args. */
static void one_step(struct pctx *pc, yaml_node_t *n)
{
	yaml_node_t *kn, *v;
	const struct kind *k = NULL;
	struct sargs a = { .max_errors = -1 };
	char known[256] = "";

	if (n->type != YAML_MAPPING_NODE || n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1) {
		CFG_ERR(&pc->cx, n, "a step is one 'KIND: ...' (drain: web1, exec: {run: ...}), not %s",
			n->type == YAML_MAPPING_NODE ? "a mapping of several keys" : schema_node_type(n));
		return;
	}
	kn = yaml_document_get_node(pc->cx.doc, n->data.mapping.pairs.start->key);
	v = yaml_document_get_node(pc->cx.doc, n->data.mapping.pairs.start->value);
	for (size_t i = 0; kn->type == YAML_SCALAR_NODE && i < ARRAY_LEN(kinds); i++)
		if (!strcmp(kinds[i].name, schema_scalar(kn)))
			k = &kinds[i];
	if (!k) {
		for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
				 kinds[i].name);
		CFG_ERR(&pc->cx, kn, "unknown step '%s' (steps: %s)",
			kn->type == YAML_SCALAR_NODE ? schema_scalar(kn) : "?", known);
		return;
	}
	if (k->scalar_off == (size_t)-2) {	/* sleep: a duration */
		if (schema_want_scalar(&pc->cx, v, "sleep", "a duration") &&
		    (config_parse_duration(schema_scalar(v), &a.timeout_ms) < 0 || a.timeout_ms > DUR_MAX))
			CFG_ERR(&pc->cx, v, "'sleep' must be a duration such as 500ms or 10s, not '%s'", schema_scalar(v));
	} else if (v->type == YAML_SCALAR_NODE && k->scalar_off != (size_t)-1) {
		if (!*schema_scalar(v))
			CFG_ERR(&pc->cx, v, "'%s' must not be empty", k->name);
		else
			*(char **)(void *)((char *)&a + k->scalar_off) = xstrdup(schema_scalar(v));
	} else {
		struct keyset ks = { k->keys, k->nkeys, &a };
		char what[64];

		snprintf(what, sizeof(what), "step '%s'", k->name);
		schema_read(&pc->cx, v, &ks, 1, what, NULL, NULL);
	}
	build(pc, n, k, &a);
	sargs_free(&a);
}

static void read_steps(struct pctx *pc, yaml_node_t *list, const char *key, struct pstep **out, int *n)
{
	int cap = pc->cap;

	if (list->type != YAML_SEQUENCE_NODE || list->data.sequence.items.top == list->data.sequence.items.start) {
		CFG_ERR(&pc->cx, list, "'%s' must be a list of at least one step", key);
		return;
	}
	pc->out = out;
	pc->n = n;
	pc->cap = 0;
	for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++)
		one_step(pc, yaml_document_get_node(pc->cx.doc, *it));
	if (*n > PLAN_MAX_STEPS)
		*n = PLAN_MAX_STEPS;
	pc->cap = cap;
}

/* ---- the top level ----------------------------------------------------------------- */

struct ptop {
	char *name, *owner, *description;
	yaml_node_t *scope, *steps, *on_failure, *auto_halt;
	uint64_t grace_ms;
};

static void top_scope(struct cctx *cx, yaml_node_t *v, void *t) { node_arg(cx, v, t, offsetof(struct ptop, scope)); }
static void top_steps(struct cctx *cx, yaml_node_t *v, void *t) { node_arg(cx, v, t, offsetof(struct ptop, steps)); }
static void top_fail(struct cctx *cx, yaml_node_t *v, void *t) { node_arg(cx, v, t, offsetof(struct ptop, on_failure)); }
static void top_halt(struct cctx *cx, yaml_node_t *v, void *t) { node_arg(cx, v, t, offsetof(struct ptop, auto_halt)); }

static const struct field plan_keys[] = {
	{ .key = "name", .type = F_NAME, .off = offsetof(struct ptop, name), .required = true },
	{ .key = "owner", .type = F_STR, .off = offsetof(struct ptop, owner), .required = true },
	{ .key = "description", .type = F_STR, .off = offsetof(struct ptop, description) },
	{ .key = "scope", .type = F_CUSTOM, .fn = top_scope, .required = true },
	{ .key = "steps", .type = F_CUSTOM, .fn = top_steps, .required = true },
	{ .key = "on_failure", .type = F_CUSTOM, .fn = top_fail },
	{ .key = "auto_halt", .type = F_CUSTOM, .fn = top_halt },
	{ .key = "abort_grace", .type = F_DURATION, .off = offsetof(struct ptop, grace_ms), .min = 0, .max = 3600000 },
};

struct halt_args {
	char *rate;
	int min_requests, max_errors;
	bool off;
};

static const struct field halt_keys[] = {
	{ .key = "max_error_rate", .type = F_STR, .off = offsetof(struct halt_args, rate) },
	{ .key = "min_requests", .type = F_INT, .off = offsetof(struct halt_args, min_requests), .min = 1, .max = 1000000000 },
	{ .key = "max_errors", .type = F_INT, .off = offsetof(struct halt_args, max_errors), .min = 0, .max = 1000000000 },
	{ .key = "off", .type = F_BOOL, .off = offsetof(struct halt_args, off) },
};

static void read_halt(struct pctx *pc, yaml_node_t *v)
{
	struct halt_args h = { .min_requests = 100, .max_errors = -1 };
	struct keyset ks = { halt_keys, ARRAY_LEN(halt_keys), &h };

	schema_read(&pc->cx, v, &ks, 1, "auto_halt", NULL, NULL);
	pc->p->halt.max_rate = -1;	/* a mapping given sets the bounds it names, no others */
	if (h.rate && (pc->p->halt.max_rate = parse_rate(h.rate)) < 0)
		CFG_ERR(&pc->cx, v, "'max_error_rate' must be a ratio such as 1%%, 0.5%% or 0.01, not '%s'", h.rate);
	pc->p->halt.min_requests = h.min_requests;
	pc->p->halt.max_errors = h.max_errors;
	if (h.off)
		pc->p->halt = (struct plan_halt){ -1, 0, -1 };
	free(h.rate);
}

static void read_scope(struct pctx *pc, yaml_node_t *v)
{
	struct plan *p = pc->p;

	if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start) {
		CFG_ERR(&pc->cx, v, "'scope' must be a list of the pools the plan may touch, such as [app]");
		return;
	}
	p->scope = xcalloc((size_t)(v->data.sequence.items.top - v->data.sequence.items.start), sizeof(char *));
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		yaml_node_t *s = yaml_document_get_node(pc->cx.doc, *it);

		if (!schema_want_scalar(&pc->cx, s, "scope", "a pool name"))
			continue;
		if (!config_pool(pc->cfg, schema_scalar(s)))
			CFG_ERR(&pc->cx, s, "the scope names pool '%s', which the config does not have", schema_scalar(s));
		else if (in_scope(p, schema_scalar(s)))
			CFG_ERR(&pc->cx, s, "pool '%s' is in the scope twice", schema_scalar(s));
		else
			p->scope[p->nscope++] = xstrdup(schema_scalar(s));
	}
}

static void read_plan(struct pctx *pc, yaml_node_t *root)
{
	struct ptop t = { 0 };
	struct keyset ks = { plan_keys, ARRAY_LEN(plan_keys), &t };
	struct plan *p = pc->p;

	t.grace_ms = 10000;
	schema_read(&pc->cx, root, &ks, 1, "a plan", NULL, NULL);
	p->name = t.name ? t.name : xstrdup("?");
	p->owner = t.owner ? t.owner : xstrdup("?");
	free(t.description);
	p->grace_ms = t.grace_ms;
	p->halt = (struct plan_halt){ 0.01, 100, -1 };
	if (t.auto_halt)
		read_halt(pc, t.auto_halt);
	if (t.scope)
		read_scope(pc, t.scope);
	if (t.steps)
		read_steps(pc, t.steps, "steps", &p->steps, &p->nsteps);
	if (t.on_failure && !(t.on_failure->type == YAML_SCALAR_NODE && !strcmp(schema_scalar(t.on_failure), "halt")))
		read_steps(pc, t.on_failure, "on_failure (halt, or a list of rollback steps)", &p->rollback,
			   &p->nrollback);
}

static void steps_free(struct pstep *s, int n)
{
	for (int i = 0; i < n; i++) {
		free(s[i].text);
		free(s[i].pool);
		free(s[i].backend);
		free(s[i].run);
		for (int j = 0; j < s[i].nbatch; j++)
			free(s[i].batch[j]);
		free(s[i].batch);
		for (int j = 0; j < s[i].nenv; j++)
			free(s[i].env[j]);
		free(s[i].env);
	}
	free(s);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	steps_free(p->steps, p->nsteps);
	steps_free(p->rollback, p->nrollback);
	for (int i = 0; i < p->nscope; i++)
		free(p->scope[i]);
	free(p->scope);
	free(p->file);
	free(p->dir);
	free(p->name);
	free(p->owner);
	free(p);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	d = xmalloc((size_t)(slash - path) + 1);
	memcpy(d, path, (size_t)(slash - path));
	d[slash - path] = '\0';
	return d;
}

static int load_parser(yaml_parser_t *parser, const char *path, const struct config *cfg,
		       struct plan **out, struct errlist *errs)
{
	yaml_document_t doc;
	yaml_node_t *root;
	struct plan *p;
	struct pctx pc;
	int nerr = errs->n;

	*out = NULL;
	if (!yaml_parser_load(parser, &doc)) {
		errlist_add(errs, path, (int)parser->problem_mark.line + 1, (int)parser->problem_mark.column + 1,
			    "YAML syntax error: %s%s%s", parser->problem ? parser->problem : "unknown",
			    parser->context ? " " : "", parser->context ? parser->context : "");
		return -EINVAL;
	}
	p = xcalloc(1, sizeof(*p));
	p->file = xstrdup(path);
	p->dir = dir_of(path);
	pc = (struct pctx){ .cx = { .doc = &doc, .file = path, .errs = errs }, .cfg = cfg, .p = p, .gate = -1 };
	root = yaml_document_get_root_node(&doc);
	if (!root)
		errlist_add(errs, path, 1, 1, "the plan is empty; it needs name, owner, scope and steps");
	else
		read_plan(&pc, root);
	yaml_document_delete(&doc);
	if (errs->n != nerr) {
		plan_free(p);
		return -EINVAL;
	}
	*out = p;
	return 0;
}

int plan_load_string(const char *path, const char *text, size_t len, const struct config *cfg,
		     struct plan **out, struct errlist *errs)
{
	yaml_parser_t parser;
	int r;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	r = load_parser(&parser, path, cfg, out, errs);
	yaml_parser_delete(&parser);
	return r;
}

/* The file at path, whole (*len bytes, malloc'd), if it is a regular file
 * of at most PLAN_MAX_BYTES; else NULL with errs told why. Opened without
 * blocking: a FIFO named by mistake must not freeze the control thread. */
static char *read_plan_file(const char *path, size_t *len, struct errlist *errs, int *err)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	*err = -EINVAL;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = -errno;
		errlist_add(errs, path, 0, 0, "cannot open plan: %s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		errlist_add(errs, path, 0, 0, "cannot open plan: not a regular file");
	} else if (st.st_size > PLAN_MAX_BYTES) {
		errlist_add(errs, path, 0, 0, "the plan is %lld bytes; at most %d", (long long)st.st_size,
			    PLAN_MAX_BYTES);
	} else {
		buf = xmalloc((size_t)st.st_size + 1);
		*len = 0;
		while ((n = read(fd, buf + *len, (size_t)st.st_size + 1 - *len)) > 0 && *len + (size_t)n <= (size_t)st.st_size)
			*len += (size_t)n;
		if (n == 0) {
			close(fd);
			return buf;
		}
		free(buf);
		errlist_add(errs, path, 0, 0, "cannot read plan: %s", n < 0 ? strerror(errno) : "it grew while read");
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int plan_load(const char *path, const struct config *cfg, struct plan **out, struct errlist *errs)
{
	size_t len;
	int r;
	char *text = read_plan_file(path, &len, errs, &r);

	*out = NULL;
	if (!text)
		return r;
	r = plan_load_string(path, text, len, cfg, out, errs);
	free(text);
	return r;
}

bool plan_file_is_plan(const char *path)
{
	FILE *f = fopen(path, "rb");
	char line[512];
	bool yes = false;

	while (f && !yes && fgets(line, sizeof(line), f))
		yes = !strncmp(line, "steps:", 6);
	if (f)
		fclose(f);
	return yes;
}

/* The first of steps [from, n) that cfg no longer has the pool or backend
 * of, into buf (what: "step", "on_failure step"); NULL if none. */
static const char *steps_valid(const struct pstep *s, int from, int n, const char *what,
			       const struct config *cfg, char *buf, size_t len)
{
	for (int i = from; i < n; i++) {
		const struct pool_cfg *pool = s[i].pool ? config_pool(cfg, s[i].pool) : NULL;

		if (s[i].pool && !pool)
			snprintf(buf, len, "%s %d (%s) needs pool '%s'", what, i + 1, s[i].text, s[i].pool);
		else if (s[i].backend && !config_backend(pool, s[i].backend))
			snprintf(buf, len, "%s %d (%s) needs backend '%s/%s'", what, i + 1, s[i].text, s[i].pool,
				 s[i].backend);
		else
			continue;
		return buf;
	}
	return NULL;
}

const char *plan_still_valid(const struct plan *p, int from, int rb_from, const struct config *cfg, char *buf,
			     size_t n)
{
	const char *why = steps_valid(p->steps, from, p->nsteps, "step", cfg, buf, n);

	return why ? why : steps_valid(p->rollback, rb_from, p->nrollback, "on_failure step", cfg, buf, n);
}

json_t *plan_steps_json(const struct pstep *steps, int n)
{
	json_t *a = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:i, s:s?, s:s?}", "n", i + 1, "kind",
			kind_names[steps[i].kind], "text", steps[i].text ? steps[i].text : "", "line",
			steps[i].line, "pool", steps[i].pool, "backend", steps[i].backend));
	return a;
}
