/*
 * fuzz_plan.c - libFuzzer target for core/plan.c.
 *
 * Loads arbitrary bytes as a plan against one fixed configuration (two
 * http pools and a redis pool), then frees the plan and the error list;
 * ASan's leak check makes any leak on any path a crash. Aborts (a bug)
 * when the result is inconsistent: success with errors or failure without,
 * a message not in "fuzz.yml:LINE:COL: text" form, or an accepted plan
 * that breaks what the runner relies on without re-checking: every step
 * has its text, names only pools of the scope and backends those pools
 * have, no gate allows more than max_unavailable or leaves its pool none.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/plan.h"
#include "core/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const char config_text[] =
	"workers: 1\n"
	"listeners:\n"
	"  - { name: web, protocol: http, bind: \"127.0.0.1:1\", pool: app }\n"
	"  - { name: web2, protocol: http, bind: \"127.0.0.1:2\", pool: other }\n"
	"  - { name: cache, protocol: redis, bind: \"127.0.0.1:3\", pool: cache }\n"
	"pools:\n"
	"  - name: app\n    protocol: http\n    backends:\n"
	"      - { name: w1, address: \"127.0.0.1:11\" }\n"
	"      - { name: w2, address: \"127.0.0.1:12\" }\n"
	"      - { name: w3, address: \"127.0.0.1:13\" }\n"
	"  - name: other\n    protocol: http\n    backends: [ { name: o1, address: \"127.0.0.1:21\" } ]\n"
	"  - name: cache\n    protocol: redis\n    backends:\n"
	"      - { name: r1, address: \"127.0.0.1:31\" }\n"
	"      - { name: r2, address: \"127.0.0.1:32\" }\n";

static struct config *cfg;

static const struct pool_cfg *pool_of(const char *name)
{
	for (int i = 0; i < cfg->npools; i++)
		if (!strcmp(cfg->pools[i].name, name))
			return &cfg->pools[i];
	return NULL;
}

static bool has_backend(const struct pool_cfg *pc, const char *name)
{
	for (int b = 0; b < pc->nbackends; b++)
		if (!strcmp(pc->backends[b].name, name))
			return true;
	return false;
}

static void check_steps(const struct plan *p, const struct pstep *s, int n)
{
	for (int i = 0; i < n; i++) {
		const struct pool_cfg *pc = s[i].pool ? pool_of(s[i].pool) : NULL;
		bool scoped = false;

		BUG_ON(!s[i].text || s[i].line < 1);
		BUG_ON(s[i].pool && !pc);
		for (int k = 0; s[i].pool && k < p->nscope; k++)
			scoped |= !strcmp(p->scope[k], s[i].pool);
		BUG_ON(s[i].pool && !scoped);
		BUG_ON(s[i].backend && (!pc || !has_backend(pc, s[i].backend)));
		if (s[i].kind == PS_GATE) {
			BUG_ON(s[i].nbatch < 1 || s[i].nbatch > s[i].max_unavailable);
			BUG_ON(s[i].max_unavailable >= pc->nbackends);
			for (int b = 0; b < s[i].nbatch; b++)
				BUG_ON(!has_backend(pc, s[i].batch[b]));
		}
		BUG_ON((s[i].kind == PS_PAUSE || s[i].kind == PS_RESUME) && !pc->proto->pausable);
		BUG_ON(s[i].kind == PS_SWITCHOVER && strcmp(pc->proto->name, "redis"));
		BUG_ON(s[i].kind == PS_EXEC && !s[i].run);
		BUG_ON(s[i].kind == PS_VERIFY && !s[i].pool && !s[i].run);
	}
}

static void check_messages(const struct errlist *e)
{
	for (int i = 0; i < e->n; i++) {
		const char *m = e->msgs[i];
		int line = 0, col = 0, used = 0;

		BUG_ON(strncmp(m, "fuzz.yml:", 9) != 0);
		BUG_ON(sscanf(m + 9, "%d:%d: %n", &line, &col, &used) != 2);
		BUG_ON(line < 1 || col < 1 || used == 0 || m[9 + used] == '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errlist e = { 0 };
	struct plan *p = (struct plan *)1;
	int r;

	if (!cfg) {
		BUG_ON(config_load_string("nodown.yml", config_text, strlen(config_text), &cfg, &e) != 0);
		errlist_free(&e);
	}
	r = plan_load_string("fuzz.yml", (const char *)data, size, cfg, &p, &e);
	if (r == 0) {
		BUG_ON(!p || e.n != 0);
		BUG_ON(p->nsteps < 1 || p->nscope < 1 || !p->name || !p->owner);
		check_steps(p, p->steps, p->nsteps);
		check_steps(p, p->rollback, p->nrollback);
	} else {
		BUG_ON(r != -EINVAL || p != NULL || e.n == 0);
		check_messages(&e);
	}
	plan_free(p);
	errlist_free(&e);
	return 0;
}
