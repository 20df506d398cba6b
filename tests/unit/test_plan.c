/*
 * test_plan.c - core/plan.c: reading, checking and resolving a plan.
 *
 * Covers the issue's example resolved step by step, batches of two with
 * their gates, the {vars} (and braces of a shell command left alone),
 * exec's environment and timeout, on_failure steps, auto_halt's defaults
 * and settings, verify's rate and window, every rule's message at its
 * place, and plan_still_valid after a reload.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/plan.h"

static const char config_text[] =
	"workers: 1\n"
	"listeners:\n"
	"  - { name: web, protocol: http, bind: \"127.0.0.1:1\", pool: app }\n"
	"  - { name: cache, protocol: redis, bind: \"127.0.0.1:2\", pool: cache }\n"
	"pools:\n"
	"  - name: app\n"
	"    protocol: http\n"
	"    backends:\n"
	"      - { name: w1, address: \"127.0.0.1:11\" }\n"
	"      - { name: w2, address: \"127.0.0.1:12\" }\n"
	"      - { name: w3, address: \"127.0.0.1:13\" }\n"
	"      - { name: w4, address: \"127.0.0.1:14\" }\n"
	"      - { name: w5, address: \"127.0.0.1:15\" }\n"
	"  - name: cache\n"
	"    protocol: redis\n"
	"    backends:\n"
	"      - { name: r1, address: \"127.0.0.1:21\" }\n"
	"      - { name: r2, address: \"127.0.0.1:22\" }\n";

static struct config *cfg;

static int setup(void **state)
{
	struct errlist e = { 0 };

	(void)state;
	assert_int_equal(config_load_string("nodown.yml", config_text, strlen(config_text), &cfg, &e), 0);
	errlist_free(&e);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	config_free(cfg);
	return 0;
}

static struct plan *load_ok(const char *text)
{
	struct errlist e = { 0 };
	struct plan *p = NULL;
	int r = plan_load_string("/srv/plans/p.yml", text, strlen(text), cfg, &p, &e);

	for (int i = 0; i < e.n; i++)
		fprintf(stderr, "unexpected: %s\n", e.msgs[i]);
	assert_int_equal(r, 0);
	assert_int_equal(e.n, 0);
	errlist_free(&e);
	return p;
}

/* The plan is refused, with `want` among the messages. */
static void load_fails(const char *text, const char *want)
{
	struct errlist e = { 0 };
	struct plan *p = (struct plan *)1;
	bool found = false;

	assert_int_equal(plan_load_string("p.yml", text, strlen(text), cfg, &p, &e), -EINVAL);
	assert_null(p);
	for (int i = 0; i < e.n; i++)
		found |= strstr(e.msgs[i], want) != NULL;
	if (!found)
		for (int i = 0; i < e.n; i++)
			fprintf(stderr, "got: %s\n", e.msgs[i]);
	assert_true(found);
	errlist_free(&e);
}

static void test_the_issue_example(void **state)
{
	static const char *const want[] = {
		"batch 1/5 of app: w1", "drain app/w1", "wait_drained app/w1 (at most 30s)",
		"exec ./restart.sh w1", "wait_healthy app/w1 (at most 60s)", "ready app/w1",
	};
	struct plan *p = load_ok("name: web-release\nowner: ops-team\nscope: [app]\nsteps:\n"
		"  - rolling:\n      pool: app\n      batch: 1\n      max_unavailable: 1\n      do:\n"
		"        - drain: \"{backend}\"\n"
		"        - wait_drained: { target: \"{backend}\", timeout: 30s }\n"
		"        - exec: { run: \"./restart.sh {backend}\", timeout: 60s }\n"
		"        - wait_healthy: { target: \"{backend}\", timeout: 60s }\n"
		"        - ready: \"{backend}\"\n"
		"  - verify: { pool: app, max_errors: 0 }\n");

	(void)state;
	assert_string_equal(p->name, "web-release");
	assert_string_equal(p->owner, "ops-team");
	assert_string_equal(p->dir, "/srv/plans");
	assert_int_equal(p->nsteps, 5 * 6 + 1);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(p->steps[i].text, want[i]);
	assert_int_equal(p->steps[0].kind, PS_GATE);
	assert_int_equal(p->steps[0].gate, -1);
	assert_int_equal(p->steps[3].gate, 0);
	assert_int_equal(p->steps[9].gate, 6);
	assert_int_equal(p->steps[30].gate, -1);	/* verify, after the rolling block */
	assert_int_equal(p->steps[0].nbatch, 1);
	assert_int_equal(p->steps[0].max_unavailable, 1);
	assert_int_equal(p->steps[3].ms, 60000);
	assert_string_equal(p->steps[3].pool, "app");	/* NODOWN_POOL, NODOWN_BACKEND */
	assert_string_equal(p->steps[3].backend, "w1");
	assert_string_equal(p->steps[24].text, "batch 5/5 of app: w5");
	assert_int_equal(p->steps[30].kind, PS_VERIFY);
	assert_int_equal(p->steps[30].max_errors, 0);
	assert_false(p->steps[30].since_step);
	assert_string_equal(p->steps[30].text, "verify app errors <= 0 since the plan began");
	assert_int_equal(p->steps[2].line, 11);
	/* defaults: halt, an automatic halt above 1% of 100 requests, 10s grace */
	assert_int_equal(p->nrollback, 0);
	assert_true(p->halt.max_rate > 0.0099 && p->halt.max_rate < 0.0101);
	assert_int_equal(p->halt.min_requests, 100);
	assert_int_equal(p->grace_ms, 10000);
	plan_free(p);
}

static void test_batches_of_two_step_by_step(void **state)
{
	struct plan *p = load_ok("name: b\nowner: o\nscope: [app]\nsteps:\n"
		"  - rolling: { pool: app, backends: [w5, w1, w3], batch: 2, max_unavailable: 2, "
		"do: [drain: \"{backend}\", ready: \"{backend}\"] }\n");

	(void)state;
	assert_int_equal(p->nsteps, 1 + 4 + 1 + 2);
	assert_string_equal(p->steps[0].text, "batch 1/2 of app: w5, w1");
	assert_int_equal(p->steps[0].nbatch, 2);
	assert_string_equal(p->steps[0].batch[1], "w1");
	/* each step for every backend of the batch, then the next step */
	assert_string_equal(p->steps[1].text, "drain app/w5");
	assert_string_equal(p->steps[2].text, "drain app/w1");
	assert_string_equal(p->steps[3].text, "ready app/w5");
	assert_string_equal(p->steps[5].text, "batch 2/2 of app: w3");
	assert_string_equal(p->steps[7].text, "ready app/w3");
	plan_free(p);
}

static void test_vars_env_and_braces(void **state)
{
	struct plan *p = load_ok("name: v\nowner: o\nscope: [app, cache]\nabort_grace: 2s\n"
		"auto_halt: { max_error_rate: 5%, min_requests: 10, max_errors: 3 }\nsteps:\n"
		"  - rolling:\n      pool: app\n      backends: [w2]\n      do:\n"
		"        - exec:\n            run: \"deploy {backend} {address} {pool} {plan} {{x}; test -n x || { exit 1; }\"\n"
		"            env: { TARGET: \"{address}\", MODE: fast }\n"
		"  - switchover: { pool: cache, to: r2, pause_timeout: 2s }\n"
		"  - pause: { pool: cache, timeout: 5s }\n"
		"  - resume: cache\n"
		"  - weight: { target: app/w3, value: 0 }\n"
		"  - sleep: 250ms\n"
		"  - approve: go on?\n"
		"  - verify: { pool: app, max_error_rate: 0.5%, since: step, for: 10s }\n");
	const struct pstep *ex = &p->steps[1];

	(void)state;
	assert_string_equal(ex->run, "deploy w2 127.0.0.1:12 app v {x}; test -n x || { exit 1; }");
	assert_int_equal(ex->nenv, 2);
	assert_string_equal(ex->env[0], "TARGET=127.0.0.1:12");
	assert_string_equal(ex->env[1], "MODE=fast");
	assert_int_equal(ex->ms, 60000);
	assert_string_equal(p->steps[2].text, "switchover cache to r2");
	assert_int_equal(p->steps[2].ms, 2000);
	assert_int_equal(p->steps[3].ms, 5000);
	assert_string_equal(p->steps[4].text, "resume cache");
	assert_string_equal(p->steps[5].text, "weight app/w3 0");
	assert_int_equal(p->steps[6].ms, 250);
	assert_string_equal(p->steps[7].text, "approve: go on?");
	assert_true(p->steps[8].since_step);
	assert_int_equal(p->steps[8].ms, 10000);
	assert_true(p->steps[8].max_rate > 0.00499 && p->steps[8].max_rate < 0.00501);
	assert_int_equal(p->grace_ms, 2000);
	assert_int_equal(p->halt.max_errors, 3);
	assert_int_equal(p->halt.min_requests, 10);
	assert_true(p->halt.max_rate > 0.0499 && p->halt.max_rate < 0.0501);
	plan_free(p);
}

static void test_on_failure_and_halt_off(void **state)
{
	struct plan *p = load_ok("name: f\nowner: o\nscope: [app]\nauto_halt: { off: true }\nsteps:\n"
		"  - drain: w1\non_failure:\n  - ready: w1\n  - exec: ./page-someone.sh\n");

	(void)state;
	assert_int_equal(p->nrollback, 2);
	assert_string_equal(p->rollback[0].text, "ready app/w1");
	assert_true(p->halt.max_rate < 0 && p->halt.max_errors < 0);
	plan_free(p);
	p = load_ok("name: f\nowner: o\nscope: [app]\non_failure: halt\nsteps:\n  - drain: w1\n");
	assert_int_equal(p->nrollback, 0);
	plan_free(p);
}

#define HEAD "name: x\nowner: o\nscope: [app]\nsteps:\n"

static void test_every_rule_has_its_message(void **state)
{
	(void)state;
	load_fails(HEAD "  - drain: w9\n", "p.yml:5:5: pool 'app' has no backend 'w9'");
	load_fails(HEAD "  - drain: cache/r1\n", "this step names pool 'cache', outside the plan's scope");
	load_fails("name: x\nowner: o\nscope: [app, db]\nsteps:\n  - drain: w1\n",
		   "p.yml:3:14: the scope names pool 'db', which the config does not have");
	load_fails("name: x\nowner: o\nscope: [app, cache]\nsteps:\n  - drain: w1\n",
		   "which pool? the scope has 2; add 'pool: NAME'");
	load_fails(HEAD "  - exec: \"./x {backend}\"\n", "'{backend}' is only known inside a rolling block's 'do'");
	load_fails(HEAD "  - exec: \"./x {nope}\"\n", "'{nope}' is not a known value");
	load_fails(HEAD "  - rolling: { pool: app, do: [rolling: { pool: app, do: [drain: w1] }] }\n",
		   "a rolling block cannot hold another");
	load_fails(HEAD "  - rolling: { pool: app, batch: 3, max_unavailable: 2, do: [drain: w1] }\n",
		   "a batch of 3 takes 3 backends out at once, more than max_unavailable (2)");
	load_fails(HEAD "  - rolling: { pool: app, max_unavailable: 5, do: [drain: w1] }\n",
		   "max_unavailable 5 of pool 'app''s 5 backends could leave it no ready backend; at most 4");
	load_fails(HEAD "  - rolling: { pool: app, backends: [w1, w1], do: [drain: w1] }\n",
		   "backend 'w1' is listed twice");
	load_fails(HEAD "  - switchover: { to: w2 }\n", "pool 'app' speaks http, which has no switchover");
	load_fails("name: x\nowner: o\nscope: [cache]\nsteps:\n  - switchover: { to: r9 }\n",
		   "pool 'cache' has no backend 'r9' to switch over to");
	load_fails(HEAD "  - verify: { pool: app, max_error_rate: lots }\n", "'max_error_rate' must be a ratio");
	load_fails(HEAD "  - verify: { pool: app, max_errors: 1, since: step }\n",
		   "'since: step' counts errors while the step watches: give 'for'");
	load_fails(HEAD "  - sleep: forever\n", "'sleep' must be a duration");
	load_fails(HEAD "  - { drain: w1, ready: w1 }\n", "a step is one 'KIND: ...'");
	load_fails(HEAD "  - reboot: w1\n", "p.yml:5:5: unknown step 'reboot' (steps: drain, ready");
	load_fails(HEAD "  - weight: { target: w1 }\n", "step 'weight' is missing required key 'value'");
	load_fails("name: x\nscope: [app]\nsteps: [drain: w1]\n", "a plan is missing required key 'owner'");
	load_fails("name: x\nowner: o\nscope: [app]\nsteps: []\n", "'steps' must be a list of at least one step");
	load_fails("name: x\nowner: o\nscope: app\nsteps: [drain: w1]\n", "'scope' must be a list");
	load_fails("", "the plan is empty");
	load_fails("name: [x\n", "YAML syntax error");
}

static void test_still_valid_after_a_reload(void **state)
{
	static const char smaller[] =
		"listeners: [ { name: web, protocol: http, bind: \"127.0.0.1:1\", pool: app } ]\n"
		"pools: [ { name: app, protocol: http, backends: [ { name: w1, address: \"127.0.0.1:11\" } ] } ]\n";
	struct plan *p = load_ok(HEAD "  - drain: w1\n  - drain: w2\n");
	struct errlist e = { 0 };
	struct config *c;
	char buf[256];

	(void)state;
	assert_int_equal(config_load_string("n.yml", smaller, strlen(smaller), &c, &e), 0);
	assert_null(plan_still_valid(p, 0, 0, cfg, buf, sizeof(buf)));
	assert_string_equal(plan_still_valid(p, 0, 0, c, buf, sizeof(buf)), "step 2 (drain app/w2) needs backend 'app/w2'");
	assert_null(plan_still_valid(p, 2, 0, c, buf, sizeof(buf)));
	config_free(c);
	errlist_free(&e);
	plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_issue_example),
		cmocka_unit_test(test_batches_of_two_step_by_step),
		cmocka_unit_test(test_vars_env_and_braces),
		cmocka_unit_test(test_on_failure_and_halt_off),
		cmocka_unit_test(test_every_rule_has_its_message),
		cmocka_unit_test(test_still_valid_after_a_reload),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
