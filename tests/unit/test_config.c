/*
 * test_config.c - core/config.c: loading, defaults and every error class.
 *
 * Covers config_load_string on the spec's minimal config (values and
 * defaults), a config that sets every key, and one test per error class,
 * each checking the exact "file:line:col: message" lines: unknown key,
 * wrong type, out-of-range number, bad duration, size and enum, duplicate
 * pool/listener/backend names, an undefined pool, two listeners on one
 * address, missing required keys, an empty file, a YAML syntax error, a
 * key given twice, header limits that do not fit the buffers, buffers per
 * worker and empty names; cross-object errors reported with value errors
 * and each duplicate reported once; the reload check of restart-only
 * settings and address equality. Also the value parsers
 * config_parse_duration/size/address, errlist_add and config_load on a
 * real file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/health.h"
#include "http/config.h"
#include "http/health.h"
#include "pg/config.h"
#include "pg/health.h"

/* The protocols' settings of a listener, a pool, a pool's http check. */
#define HL(l) http_listener(l)
#define HP(p) http_pool(p)
#define PG(p) pg_pool(p)
#define HC(p) ((const struct http_probe_cfg *)(p)->health.probe_cfg)

#define NAME "t.yml"

/* The spec's minimal config, line by line. */
static const char minimal[] =
	"workers: 2\n"					/* 1 */
	"admin:\n"					/* 2 */
	"  socket: ./nodown.sock\n"			/* 3 */
	"listeners:\n"					/* 4 */
	"  - name: web\n"				/* 5 */
	"    protocol: http\n"				/* 6 */
	"    bind: 127.0.0.1:8080\n"			/* 7 */
	"    pool: app\n"				/* 8 */
	"pools:\n"					/* 9 */
	"  - name: app\n"				/* 10 */
	"    protocol: http\n"				/* 11 */
	"    balance: round_robin        # or least_conn\n"	/* 12 */
	"    backends:\n"				/* 13 */
	"      - { name: ap1, address: 127.0.0.1:9001 }\n"	/* 14 */
	"      - { name: ap2, address: 127.0.0.1:9002, weight: 2 }\n";	/* 15 */

/* Five-line building blocks for the error cases. */
#define LISTENERS \
	"listeners:\n" \
	"  - name: web\n" \
	"    protocol: http\n" \
	"    bind: 127.0.0.1:8080\n" \
	"    pool: app\n"

#define POOLS \
	"pools:\n" \
	"  - name: app\n" \
	"    protocol: http\n" \
	"    backends:\n" \
	"      - { name: ap1, address: 127.0.0.1:9001 }\n"

static struct config *load_ok(const char *yaml)
{
	struct errlist e = { 0 };
	struct config *c = NULL;
	int r;

	r = config_load_string(NAME, yaml, strlen(yaml), &c, &e);
	for (int i = 0; i < e.n; i++)
		print_message("unexpected error: %s\n", e.msgs[i]);
	errlist_free(&e);
	assert_int_equal(r, 0);
	assert_non_null(c);
	return c;
}

/* Load yaml and expect exactly the messages in want[] (NULL-terminated), in order. */
static void check_errors(const char *yaml, const char *const *want)
{
	struct errlist e = { 0 };
	struct config *c = (struct config *)1;
	int r, n = 0, bad;

	while (want[n])
		n++;
	r = config_load_string(NAME, yaml, strlen(yaml), &c, &e);
	bad = e.n != n;
	for (int i = 0; i < e.n && i < n; i++)
		bad |= strcmp(e.msgs[i], want[i]) != 0;
	if (bad) {
		for (int i = 0; i < n; i++)
			print_message("want: %s\n", want[i]);
		for (int i = 0; i < e.n; i++)
			print_message("got:  %s\n", e.msgs[i]);
	}
	/* Freed before asserting, so a failure leaks nothing under ASan. */
	errlist_free(&e);
	assert_int_equal(e.n, 0);
	assert_null(e.msgs);
	if (r == 0)
		config_free(c);
	assert_false(bad);
	assert_int_equal(r, -EINVAL);
	assert_null(c);
}

#define EXPECT_ERRORS(yaml, ...) \
	check_errors(yaml, (const char *const[]){ __VA_ARGS__, NULL })

/* ---- a good config ------------------------------------------------------ */

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void test_minimal(void **state)
{
	struct config *c = load_ok(minimal);
	struct listener_cfg *l;
	struct pool_cfg *p;
	char a[64];

	(void)state;
	assert_string_equal(c->path, NAME);
	assert_int_equal(c->workers, 2);
	assert_string_equal(c->admin_socket, "./nodown.sock");
	assert_null(c->pid_file);
	assert_int_equal(c->shutdown_timeout_ms, 30000);
	assert_int_equal(c->shutdown_idle_grace_ms, 1000);
	assert_string_equal(c->access_log, "stderr");
	assert_string_equal(c->error_log, "stderr");
	assert_int_equal(c->buffer_size, 16384);
	assert_int_equal(c->max_buffers, 8192);

	assert_int_equal(c->nlisteners, 1);
	l = &c->listeners[0];
	assert_string_equal(l->name, "web");
	assert_ptr_equal(l->proto, &http_module);
	assert_string_equal(l->bind, "127.0.0.1:8080");
	assert_int_equal(l->addr.ss_family, AF_INET);
	assert_int_equal(port_of(&l->addr), 8080);
	config_format_address(&l->addr, a, sizeof(a));
	assert_string_equal(a, "127.0.0.1:8080");
	assert_string_equal(l->pool_name, "app");
	assert_ptr_equal(l->pool, &c->pools[0]);
	assert_int_equal(l->index, 0);
	assert_int_equal(l->backlog, 511);
	assert_int_equal(l->max_connections, 10000);
	assert_int_equal(HL(l)->max_header_size, 8192);
	assert_int_equal(HL(l)->max_target_size, 4096);
	assert_int_equal(HL(l)->max_body_size, 0);
	assert_int_equal(HL(l)->header_timeout_ms, 10000);
	assert_int_equal(HL(l)->idle_timeout_ms, 60000);
	assert_int_equal(HL(l)->client_timeout_ms, 60000);
	assert_true(HL(l)->forwarded_for);
	assert_true(HL(l)->forwarded_proto);
	assert_true(HL(l)->via);

	assert_int_equal(c->npools, 1);
	p = &c->pools[0];
	assert_string_equal(p->name, "app");
	assert_ptr_equal(p->proto, &http_module);
	assert_int_equal(HP(p)->balance, BALANCE_ROUND_ROBIN);
	assert_int_equal(p->index, 0);
	assert_int_equal(p->line, 10);
	assert_int_equal(p->connect_timeout_ms, 3000);
	assert_int_equal(HP(p)->response_timeout_ms, 60000);
	assert_int_equal(p->idle_timeout_ms, 30000);
	assert_int_equal(HP(p)->max_idle, 64);
	assert_int_equal(HP(p)->retries, 2);
	assert_int_equal(p->nbackends, 2);
	assert_string_equal(p->backends[0].name, "ap1");
	assert_string_equal(p->backends[0].address, "127.0.0.1:9001");
	assert_int_equal(port_of(&p->backends[0].addr), 9001);
	assert_int_equal(p->backends[0].weight, 1);
	assert_int_equal(p->backends[0].index, 0);
	assert_string_equal(p->backends[1].name, "ap2");
	assert_string_equal(p->backends[1].address, "127.0.0.1:9002");
	assert_int_equal(port_of(&p->backends[1].addr), 9002);
	assert_int_equal(p->backends[1].weight, 2);
	assert_int_equal(p->backends[1].index, 1);
	config_free(c);
}

static void test_least_conn_and_defaults(void **state)
{
	struct config *c;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	c = load_ok(LISTENERS
		    "pools:\n"
		    "  - name: app\n"
		    "    protocol: http\n"
		    "    balance: least_conn\n"
		    "    backends:\n"
		    "      - { name: ap1, address: 127.0.0.1:9001 }\n");
	assert_int_equal(HP(&c->pools[0])->balance, BALANCE_LEAST_CONN);
	/* workers defaults to the number of CPUs; admin socket to ./nodown.sock */
	assert_int_equal(c->workers, n > 0 ? (int)n : 1);
	assert_string_equal(c->admin_socket, "./nodown.sock");
	/* balance defaults to round_robin when not given */
	config_free(c);
	c = load_ok(LISTENERS POOLS);
	assert_int_equal(HP(&c->pools[0])->balance, BALANCE_ROUND_ROBIN);
	assert_int_equal(c->pools[0].backends[0].weight, 1);
	config_free(c);
}

static void test_every_key(void **state)
{
	struct config *c;
	struct listener_cfg *l;
	struct pool_cfg *p;

	(void)state;
	c = load_ok("workers: 4\n"
		    "pid_file: /run/nodown.pid\n"
		    "shutdown_timeout: 2m\n"
		    "shutdown_idle_grace: 0\n"
		    "admin: { socket: /run/nodown.sock }\n"
		    "log: { access: off, error: /var/log/nodown.err }\n"
		    "buffers: { size: 64KiB, max: 100 }\n"
		    "listeners:\n"
		    "  - name: web\n"
		    "    protocol: http\n"
		    "    bind: '[::1]:8080'\n"
		    "    pool: api\n"
		    "    backlog: 128\n"
		    "    max_connections: 500\n"
		    "    max_header_size: 32k\n"
		    "    max_target_size: 2k\n"
		    "    max_body_size: 10MiB\n"
		    "    header_timeout: 500ms\n"
		    "    idle_timeout: 1h\n"
		    "    client_timeout: 30s\n"
		    "    forwarded_for: false\n"
		    "    forwarded_proto: no\n"
		    "    via: off\n"
		    "  - name: web2\n"
		    "    protocol: http\n"
		    "    bind: 127.0.0.1:8080\n"
		    "    pool: api\n"
		    "pools:\n"
		    "  - name: other\n"
		    "    protocol: http\n"
		    "    backends: [ { name: o1, address: 127.0.0.1:1 } ]\n"
		    "  - name: api\n"
		    "    protocol: http\n"
		    "    balance: least_conn\n"
		    "    connect_timeout: 250ms\n"
		    "    response_timeout: 5s\n"
		    "    idle_timeout: 4s\n"
		    "    max_idle: 0\n"
		    "    retries: 10\n"
		    "    backends:\n"
		    "      - { name: a, address: '[::1]:9001', weight: 1000 }\n");
	assert_int_equal(c->workers, 4);
	assert_string_equal(c->pid_file, "/run/nodown.pid");
	assert_int_equal(c->shutdown_timeout_ms, 120000);
	assert_int_equal(c->shutdown_idle_grace_ms, 0);
	assert_string_equal(c->admin_socket, "/run/nodown.sock");
	assert_string_equal(c->access_log, "off");
	assert_string_equal(c->error_log, "/var/log/nodown.err");
	assert_int_equal(c->buffer_size, 65536);
	assert_int_equal(c->max_buffers, 100);

	assert_int_equal(c->nlisteners, 2);
	l = &c->listeners[0];
	assert_int_equal(l->addr.ss_family, AF_INET6);
	assert_int_equal(port_of(&l->addr), 8080);
	assert_ptr_equal(l->pool, &c->pools[1]);
	assert_ptr_equal(c->listeners[1].pool, &c->pools[1]);
	assert_int_equal(c->listeners[1].index, 1);
	assert_int_equal(l->backlog, 128);
	assert_int_equal(l->max_connections, 500);
	assert_int_equal(HL(l)->max_header_size, 32768);
	assert_int_equal(HL(l)->max_target_size, 2048);
	assert_int_equal(HL(l)->max_body_size, 10 << 20);
	assert_int_equal(HL(l)->header_timeout_ms, 500);
	assert_int_equal(HL(l)->idle_timeout_ms, 3600000);
	assert_int_equal(HL(l)->client_timeout_ms, 30000);
	assert_false(HL(l)->forwarded_for);
	assert_false(HL(l)->forwarded_proto);
	assert_false(HL(l)->via);

	assert_int_equal(c->npools, 2);
	p = &c->pools[1];
	assert_string_equal(p->name, "api");
	assert_int_equal(p->index, 1);
	assert_int_equal(p->line, 32);
	assert_int_equal(HP(p)->balance, BALANCE_LEAST_CONN);
	assert_int_equal(p->connect_timeout_ms, 250);
	assert_int_equal(HP(p)->response_timeout_ms, 5000);
	assert_int_equal(p->idle_timeout_ms, 4000);
	assert_int_equal(HP(p)->max_idle, 0);
	assert_int_equal(HP(p)->retries, 10);
	assert_int_equal(p->backends[0].weight, 1000);
	assert_int_equal(p->backends[0].addr.ss_family, AF_INET6);
	config_free(c);
}

/* ---- error classes --------------------------------------------------------- */

static void test_unknown_key(void **state)
{
	(void)state;
	EXPECT_ERRORS("worker: 2\n" LISTENERS POOLS,
		      "t.yml:1:1: unknown key 'worker' in the top level (known keys: workers, "
		      "pid_file, state_file, runs_dir, shutdown_timeout, shutdown_idle_grace, admin, log, status, buffers, "
		      "listeners, pools)");
	/* Every problem is reported in one go: the unknown key and the
	 * required key it was probably meant to be. */
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bnd: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      POOLS,
		      "t.yml:4:5: unknown key 'bnd' in listener (known keys: name, protocol, bind, "
		      "pool, backlog, max_connections, max_header_size, max_target_size, "
		      "max_body_size, header_timeout, idle_timeout, client_timeout, request_min_rate, "
		      "request_rate_grace, underscores_in_headers, forwarded_for, forwarded_proto, via)",
		      "t.yml:2:5: listener is missing required key 'bind'");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends:\n"
		      "      - { name: ap1, adress: 127.0.0.1:9001 }\n",
		      "t.yml:10:22: unknown key 'adress' in backend (known keys: name, address, weight)",
		      "t.yml:10:9: backend is missing required key 'address'");
	EXPECT_ERRORS("admin: { sock: x }\n" LISTENERS POOLS,
		      "t.yml:1:10: unknown key 'sock' in admin (known keys: socket, listen, token, max_connections, timeout)");
}

static void test_wrong_type(void **state)
{
	(void)state;
	EXPECT_ERRORS("workers: two\n" LISTENERS POOLS,
		      "t.yml:1:10: 'workers' must be a whole number, not 'two'");
	EXPECT_ERRORS("workers: 2.5\n" LISTENERS POOLS,
		      "t.yml:1:10: 'workers' must be a whole number, not '2.5'");
	EXPECT_ERRORS("workers: [2]\n" LISTENERS POOLS,
		      "t.yml:1:10: 'workers' must be a whole number, not a list");
	EXPECT_ERRORS("admin: ./nodown.sock\n" LISTENERS POOLS,
		      "t.yml:1:8: admin must be a mapping of keys to values, not a scalar");
	EXPECT_ERRORS("listeners: { name: web }\n" POOLS,
		      "t.yml:1:12: 'listeners' must be a list (items starting with '- '), not a mapping");
	EXPECT_ERRORS("listeners: [ web ]\n" POOLS,
		      "t.yml:1:14: listener must be a mapping of keys to values, not a scalar");
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: [ app ]\n"
		      "    via: maybe\n"
		      POOLS,
		      "t.yml:5:11: 'pool' must be a name, not a list",
		      "t.yml:6:10: 'via' must be true or false, not 'maybe'");
	EXPECT_ERRORS("pid_file: { a: b }\n" LISTENERS POOLS,
		      "t.yml:1:11: 'pid_file' must be a string, not a mapping");
	EXPECT_ERRORS("[ a, b ]\n",
		      "t.yml:1:1: the top level must be a mapping of keys to values, not a list");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends: []\n",
		      "t.yml:9:15: 'backends' must name at least one item");
}

static void test_out_of_range(void **state)
{
	(void)state;
	EXPECT_ERRORS("workers: 0\n" LISTENERS POOLS,
		      "t.yml:1:10: 'workers' must be between 1 and 256, not 0");
	EXPECT_ERRORS("workers: 257\n" LISTENERS POOLS,
		      "t.yml:1:10: 'workers' must be between 1 and 256, not 257");
	EXPECT_ERRORS("workers: -1\n" LISTENERS POOLS,
		      "t.yml:1:10: 'workers' must be between 1 and 256, not -1");
	EXPECT_ERRORS("workers: 99999999999999999999\n" LISTENERS POOLS,
		      "t.yml:1:10: 'workers' must be a whole number, not '99999999999999999999'");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    retries: 11\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001, weight: 0 }\n"
		      "      - { name: ap2, address: 127.0.0.1:9002, weight: 1001 }\n",
		      "t.yml:9:14: 'retries' must be between 0 and 10, not 11",
		      "t.yml:11:55: 'weight' must be between 1 and 1000, not 0",
		      "t.yml:12:55: 'weight' must be between 1 and 1000, not 1001");
	EXPECT_ERRORS("buffers: { size: 1k, max: 15 }\n" LISTENERS POOLS,
		      "t.yml:1:18: 'size' must be between 4096 and 1048576 bytes, not 1k",
		      "t.yml:1:27: 'max' must be between 16 and 10000000, not 15");
	EXPECT_ERRORS("shutdown_timeout: 8d\nshutdown_idle_grace: 169h\n" LISTENERS POOLS,
		      "t.yml:1:19: 'shutdown_timeout' must be a duration such as 500ms, 10s, 2m or 1h, not '8d'",
		      "t.yml:2:22: 'shutdown_idle_grace' must be between 0ms and 604800000ms, not 169h");
}

static void test_bad_duration(void **state)
{
	(void)state;
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    connect_timeout: 10\n"
		      "    response_timeout: 5x\n"
		      "    idle_timeout: 0\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:9:22: 'connect_timeout' must be a duration such as 500ms, 10s, 2m or 1h, not '10'",
		      "t.yml:10:23: 'response_timeout' must be a duration such as 500ms, 10s, 2m or 1h, not '5x'",
		      "t.yml:11:19: 'idle_timeout' must be between 1ms and 604800000ms, not 0");
}

static void test_bad_size(void **state)
{
	(void)state;
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      "    max_header_size: 8q\n"
		      "    max_body_size: -1\n"
		      "    max_target_size: 8\n"
		      POOLS,
		      "t.yml:6:22: 'max_header_size' must be a size such as 8192, 16k or 10MiB, not '8q'",
		      "t.yml:7:20: 'max_body_size' must be a size such as 8192, 16k or 10MiB, not '-1'",
		      "t.yml:8:22: 'max_target_size' must be between 16 and 1048576 bytes, not 8");
}

static void test_bad_enum(void **state)
{
	(void)state;
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: tcp\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    balance: random\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:3:15: 'protocol' must be one of http, pg, redis, not 'tcp'",
		      "t.yml:9:14: 'balance' must be one of round_robin, least_conn, not 'random'");
}

static void test_bad_address(void **state)
{
	(void)state;
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:0\n"
		      "    pool: app\n"
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1 }\n"
		      "      - { name: ap2, address: nonexistent.invalid:80 }\n",
		      "t.yml:4:11: 'bind': invalid address '127.0.0.1:0': port must be a number from 1 to 65535",
		      "t.yml:10:31: 'address': invalid address '127.0.0.1': expected HOST:PORT, "
		      "for example 127.0.0.1:8080 or [::1]:8080",
		      "t.yml:11:31: 'address': invalid address 'nonexistent.invalid:80': host name does not resolve");
}

static void test_duplicate_names(void **state)
{
	(void)state;
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:11:11: duplicate pool name 'app' (first defined at line 7); "
		      "pool names must be unique");
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8081\n"
		      "    pool: app\n"
		      POOLS,
		      "t.yml:6:11: duplicate listener name 'web' (first defined at line 2)");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n"
		      "      - { name: ap2, address: 127.0.0.1:9002 }\n"
		      "      - { name: ap1, address: 127.0.0.1:9003 }\n",
		      "t.yml:12:17: duplicate backend name 'ap1' in pool 'app' (first defined at line 10)");
	/* The same backend name in two pools is fine. */
	config_free(load_ok(LISTENERS POOLS
			    "  - name: app2\n"
			    "    protocol: http\n"
			    "    backends:\n"
			    "      - { name: ap1, address: 127.0.0.1:9001 }\n"));
}

/*
 * A name used three times is two duplicates, each reported once against
 * the first definition. Comparing every pair instead reports the third
 * one twice, once as "first defined at" the second; with YAML aliases the
 * count grows quadratically: a 3.4 KB file of 300 pools aliasing one pool
 * of 300 aliased backends yields 13.5 million messages, 1.3 GB and 9 s
 * in `nodown check`.
 */
static void test_duplicate_reported_once(void **state)
{
	char *yaml;
	size_t n = 0, cap = 16384;
	struct errlist e = { 0 };
	struct config *c;
	int nmsg;

	(void)state;
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n"
		      "      - { name: ap1, address: 127.0.0.1:9002 }\n"
		      "      - { name: ap1, address: 127.0.0.1:9003 }\n",
		      "t.yml:11:17: duplicate backend name 'ap1' in pool 'app' (first defined at line 10)",
		      "t.yml:12:17: duplicate backend name 'ap1' in pool 'app' (first defined at line 10)");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends: [ { name: ap1, address: 127.0.0.1:9001 } ]\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends: [ { name: ap1, address: 127.0.0.1:9001 } ]\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends: [ { name: ap1, address: 127.0.0.1:9001 } ]\n",
		      "t.yml:10:11: duplicate pool name 'app' (first defined at line 7); "
		      "pool names must be unique",
		      "t.yml:13:11: duplicate pool name 'app' (first defined at line 7); "
		      "pool names must be unique");
	EXPECT_ERRORS("listeners:\n"
		      "  - { name: web, protocol: http, bind: 127.0.0.1:8080, pool: app }\n"
		      "  - { name: web, protocol: http, bind: 127.0.0.1:8081, pool: app }\n"
		      "  - { name: web, protocol: http, bind: 127.0.0.1:8082, pool: app }\n"
		      POOLS,
		      "t.yml:3:13: duplicate listener name 'web' (first defined at line 2)",
		      "t.yml:4:13: duplicate listener name 'web' (first defined at line 2)");

	/* 60 pools aliasing one pool of 60 aliased backends: at most one
	 * message per pool and per backend entry. */
	yaml = malloc(cap);
	assert_non_null(yaml);
	n += (size_t)snprintf(yaml + n, cap - n, "%s",
			      "listeners: [ { name: web, protocol: http, bind: 127.0.0.1:8080, pool: app } ]\n"
			      "pools:\n"
			      "  - &p { name: app, protocol: http, backends: "
			      "[ &b { name: a, address: 127.0.0.1:1 }");
	for (int i = 1; i < 60; i++)
		n += (size_t)snprintf(yaml + n, cap - n, ", *b");
	n += (size_t)snprintf(yaml + n, cap - n, " ] }\n");
	for (int i = 1; i < 60; i++)
		n += (size_t)snprintf(yaml + n, cap - n, "  - *p\n");
	assert_true(n < cap);
	assert_int_equal(config_load_string(NAME, yaml, n, &c, &e), -EINVAL);
	free(yaml);
	nmsg = e.n;
	errlist_free(&e);
	if (nmsg > 60 * 60 + 60)
		print_message("%d messages for %zu bytes of YAML\n", nmsg, n);
	assert_true(nmsg <= 60 * 60 + 60);
}

static void test_undefined_pool(void **state)
{
	(void)state;
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: nope\n"
		      POOLS,
		      "t.yml:5:11: listener 'web' refers to pool 'nope', which is not defined under 'pools'");
}

static void test_same_bind(void **state)
{
	(void)state;
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      "  - name: web2\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      POOLS,
		      "t.yml:8:11: listeners 'web' and 'web2' both bind 127.0.0.1:8080; "
		      "each address (and port, with 0.0.0.0 or [::]) can have one listener");
	/* Compared as addresses, not as strings. */
	EXPECT_ERRORS("listeners:\n"
		      "  - { name: a, protocol: http, bind: '[::1]:8080', pool: app }\n"
		      "  - { name: b, protocol: http, bind: '[0:0::1]:8080', pool: app }\n"
		      POOLS,
		      "t.yml:3:38: listeners 'a' and 'b' both bind [0:0::1]:8080; "
		      "each address (and port, with 0.0.0.0 or [::]) can have one listener");
	/* The wildcard address clashes with every address on its port. */
	EXPECT_ERRORS("listeners:\n"
		      "  - { name: a, protocol: http, bind: 127.0.0.1:8080, pool: app }\n"
		      "  - { name: b, protocol: http, bind: '0.0.0.0:8080', pool: app }\n"
		      POOLS,
		      "t.yml:3:38: listeners 'a' and 'b' both bind 0.0.0.0:8080; "
		      "each address (and port, with 0.0.0.0 or [::]) can have one listener");
	/* Another port, or another family, is another address. */
	config_free(load_ok("listeners:\n"
			    "  - { name: a, protocol: http, bind: 127.0.0.1:8080, pool: app }\n"
			    "  - { name: b, protocol: http, bind: 127.0.0.1:8081, pool: app }\n"
			    "  - { name: c, protocol: http, bind: '[::1]:8080', pool: app }\n"
			    POOLS));
}

static void test_missing_required(void **state)
{
	(void)state;
	EXPECT_ERRORS("workers: 2\n",
		      "t.yml:1:1: the top level is missing required key 'listeners'",
		      "t.yml:1:1: the top level is missing required key 'pools'");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "  - protocol: http\n"
		      "    backends:\n"
		      "      - { address: 127.0.0.1:9001 }\n",
		      "t.yml:7:5: pool is missing required key 'protocol'",
		      "t.yml:7:5: pool is missing required key 'backends'",
		      "t.yml:10:9: backend is missing required key 'name'",
		      "t.yml:8:5: pool is missing required key 'name'");
	EXPECT_ERRORS("listeners:\n"
		      "  - { name: web }\n"
		      POOLS,
		      "t.yml:2:5: listener is missing required key 'protocol'",
		      "t.yml:2:5: listener is missing required key 'bind'",
		      "t.yml:2:5: listener is missing required key 'pool'");
}

static void test_empty(void **state)
{
	(void)state;
	EXPECT_ERRORS("",
		      "t.yml:1:1: the file is empty; a config needs at least 'listeners' and 'pools'");
	EXPECT_ERRORS("# nothing here\n\n",
		      "t.yml:1:1: the file is empty; a config needs at least 'listeners' and 'pools'");
}

static void test_yaml_syntax(void **state)
{
	static const char *bad[] = {
		"workers: 2\nlisteners: [ a, b\npools: x\n",
		"workers: 2\n  pools: x\n bad\n",
		"workers: \"2\n",
		"workers: *nowhere\n",
		"a: b\n\tc: d\n",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct errlist e = { 0 };
		struct config *c = (struct config *)1;
		int r;

		r = config_load_string(NAME, bad[i], strlen(bad[i]), &c, &e);
		assert_int_equal(r, -EINVAL);
		assert_null(c);
		assert_int_equal(e.n, 1);
		assert_true(strncmp(e.msgs[0], "t.yml:", 6) == 0);
		assert_non_null(strstr(e.msgs[0], ": YAML syntax error: "));
		errlist_free(&e);
	}
	/* The line and column of the problem are given. */
	EXPECT_ERRORS("workers: 2\nlisteners: [ a, b\npools: x\n",
		      "t.yml:3:6: YAML syntax error: did not find expected ',' or ']' "
		      "while parsing a flow sequence");
}

static void test_key_twice(void **state)
{
	(void)state;
	EXPECT_ERRORS("workers: 2\nworkers: 3\n" LISTENERS POOLS,
		      "t.yml:2:1: key 'workers' given twice in the top level");
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      "    bind: 127.0.0.1:8081\n"
		      POOLS,
		      "t.yml:6:5: key 'bind' given twice in listener");
	EXPECT_ERRORS(LISTENERS POOLS POOLS,
		      "t.yml:11:1: key 'pools' given twice in the top level");
}

static void test_header_size_vs_buffers(void **state)
{
	struct config *c;

	(void)state;
	EXPECT_ERRORS("buffers:\n"
		      "  size: 16k\n"
		      "listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      "    max_header_size: 16k\n"
		      POOLS,
		      "t.yml:8:22: max_header_size (16384) must leave 1024 bytes of the buffer size "
		      "(16384) for added headers; raise buffers.size or lower max_header_size");
	/* The default max_header_size (8k) does not fit 4k buffers: reported
	 * at the listener, since the key is not written. */
	EXPECT_ERRORS("buffers: { size: 4096 }\n" LISTENERS POOLS,
		      "t.yml:3:5: max_header_size (8192) must leave 1024 bytes of the buffer size "
		      "(4096) for added headers; raise buffers.size or lower max_header_size");
	EXPECT_ERRORS("listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: app\n"
		      "    max_header_size: 4k\n"
		      "    max_target_size: 4k\n"
		      POOLS,
		      "t.yml:7:22: max_target_size (4096) must be below max_header_size (4096)");
	/* Exactly 1024 bytes left is enough. */
	c = load_ok("buffers: { size: 16k }\n"
		    "listeners:\n"
		    "  - { name: web, protocol: http, bind: 127.0.0.1:8080, pool: app,"
		    " max_header_size: 15k }\n"
		    POOLS);
	assert_int_equal(HL(&c->listeners[0])->max_header_size, 15360);
	config_free(c);
}

static void test_log_error_off(void **state)
{
	(void)state;
	EXPECT_ERRORS("log:\n  error: off\n" LISTENERS POOLS,
		      "t.yml:2:3: log.error cannot be 'off': errors must go somewhere (stderr or a file)");
}

/* Keys of one protocol on an object of another, and what a pg pool needs. */
/* server_auth: a list or one name; anything else is refused by name. */
static void test_server_auth_key(const char *authfile)
{
	static const char *const values[] = { "[scram-sha-256]", "password", "[md5, password]",
					      "[kerberos]", "{}", "[]" };
	static const unsigned bits[] = { PG_SERVER_AUTH_SCRAM, PG_SERVER_AUTH_PASSWORD,
					 PG_SERVER_AUTH_MD5 | PG_SERVER_AUTH_PASSWORD };
	static const char *const errs[] = {
		"t.yml:5:21: 'server_auth' methods are scram-sha-256, md5, password and trust, not 'kerberos'",
		"t.yml:5:20: 'server_auth' must be a list of methods (scram-sha-256, md5, password, trust)",
		"t.yml:5:20: 'server_auth' must be a list of methods (scram-sha-256, md5, password, trust)",
	};
	char yaml[1024];

	for (size_t i = 0; i < ARRAY_LEN(values); i++) {
		snprintf(yaml, sizeof(yaml),
			 "listeners:\n"
			 "  - { name: db, protocol: pg, bind: 127.0.0.1:6432, pool: main }\n"
			 "pools:\n"
			 "  - { name: main, protocol: pg, auth_file: %s, monitor_user: postgres,\n"
			 "      server_auth: %s,\n"
			 "      backends: [{ name: pg1, address: 127.0.0.1:5432 }] }\n", authfile, values[i]);
		if (i < ARRAY_LEN(bits)) {
			struct config *c = load_ok(yaml);

			assert_int_equal(PG(&c->pools[0])->server_auth, bits[i]);
			config_free(c);
		} else {
			check_errors(yaml, (const char *const[]){ errs[i - ARRAY_LEN(bits)], NULL });
		}
	}
}

static void test_protocol_keys(void **state)
{
	char path[] = "/tmp/nodown-test-userlist-XXXXXX";
	char yaml[2048];
	struct config *c;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\"app\" \"secret\"\n\"postgres\" \"pw\"\n", 31), 31);
	close(fd);
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    pool_size: 5\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:9:5: 'pool_size' applies only to protocol pg, and this pool speaks http");
	EXPECT_ERRORS("listeners:\n"
		      "  - { name: db, protocol: pg, bind: 127.0.0.1:6432, pool: main, via: false }\n"
		      "pools:\n"
		      "  - name: main\n"
		      "    protocol: pg\n"
		      "    backends:\n"
		      "      - { name: pg1, address: 127.0.0.1:5432 }\n",
		      "t.yml:2:65: 'via' applies only to protocol http, and this listener speaks pg",
		      "t.yml:5:15: pool 'main' speaks pg and needs 'auth_file' (lines \"user\" \"secret\")",
		      "t.yml:5:15: pool 'main' speaks pg and needs 'monitor_user' (a role whose secret is in "
		      "auth_file, for health checks and promotion)");
	/* What only http pools use is refused in a pg pool, not ignored;
	 * header_timeout belongs to both protocols' listeners. */
	{
		static const char *const http_only[] = { "balance: least_conn", "response_timeout: 5s",
							  "max_idle: 3", "retries: 1", "passive_fall: 2",
							  "slowstart: 10s" };

		for (size_t i = 0; i < ARRAY_LEN(http_only); i++) {
			char want[256], key[32];

			snprintf(key, sizeof(key), "%.*s", (int)strcspn(http_only[i], ":"), http_only[i]);
			snprintf(yaml, sizeof(yaml),
				 "listeners:\n"
				 "  - { name: db, protocol: pg, bind: 127.0.0.1:6432, pool: main, header_timeout: 2s }\n"
				 "pools:\n"
				 "  - { name: main, protocol: pg, auth_file: %s, monitor_user: postgres,\n"
				 "      %s, backends: [{ name: pg1, address: 127.0.0.1:5432 }] }\n",
				 path, http_only[i]);
			snprintf(want, sizeof(want), "t.yml:5:7: '%s' applies only to protocol http, and "
				 "this pool speaks pg", key);
			check_errors(yaml, (const char *const[]){ want, NULL });
		}
	}
	snprintf(yaml, sizeof(yaml),
		 "listeners:\n"
		 "  - { name: db, protocol: pg, bind: 127.0.0.1:6432, pool: main }\n"
		 "pools:\n"
		 "  - name: main\n"
		 "    protocol: pg\n"
		 "    pool_mode: session\n"
		 "    auth_file: %s\n"
		 "    monitor_user: postgres\n"
		 "    fence_command: ssh db1 pg_ctl stop -m fast\n"
		 "    backends:\n"
		 "      - { name: pg1, address: 127.0.0.1:5432 }\n"
		 "      - { name: pg2, address: 127.0.0.1:5433 }\n", path);
	c = load_ok(yaml);
	assert_int_equal(PG(&c->pools[0])->pool_mode, PG_POOL_SESSION);
	assert_int_equal(PG(&c->pools[0])->pool_size, 20);
	assert_ptr_equal(c->pools[0].health.probe, &pg_probe);
	assert_string_equal(PG(&c->pools[0])->monitor_database, "postgres");
	assert_string_equal(PG(&c->pools[0])->fence_command, "ssh db1 pg_ctl stop -m fast");
	assert_non_null(PG(&c->pools[0])->auth);
	assert_int_equal(PG(&c->pools[0])->server_auth,
			 PG_SERVER_AUTH_SCRAM | PG_SERVER_AUTH_MD5 | PG_SERVER_AUTH_TRUST);
	config_free(c);
	test_server_auth_key(path);
	/* It holds passwords: shared with a group read-only is the most. */
	assert_int_equal(chmod(path, 0640), 0);
	config_free(load_ok(yaml));
	{
		char want[256];

		assert_int_equal(chmod(path, 0644), 0);
		snprintf(want, sizeof(want), "%s: auth file holds passwords but can be read or written "
			 "by any user (mode 0644); make it private: chmod 0600 %s (0640 to share it "
			 "with a group)", path, path);
		check_errors(yaml, (const char *const[]){ want, NULL });
		assert_int_equal(chmod(path, 0660), 0);
		snprintf(want, sizeof(want), "%s: auth file holds passwords but can be written by its "
			 "group (mode 0660); make it private: chmod 0600 %s (0640 to share it with a "
			 "group)", path, path);
		check_errors(yaml, (const char *const[]){ want, NULL });
	}
	unlink(path);
}

/* Reload: only restart-only settings that differ are reported, by key. */
static void test_restart_only(void **state)
{
	struct config *a = load_ok(minimal), *b;
	struct errlist errs = { 0 };

	(void)state;
	b = load_ok("workers: 2\nadmin:\n  socket: ./nodown.sock\nshutdown_timeout: 9s\n" LISTENERS POOLS);
	assert_int_equal(config_restart_only(a, b, &errs), 0);	/* listeners, pools, timeouts: fine */
	assert_int_equal(errs.n, 0);
	config_free(b);
	b = load_ok("workers: 3\nadmin:\n  socket: ./other.sock\nlog:\n  access: off\n"
		    "buffers:\n  max: 4096\n" LISTENERS POOLS);
	assert_int_equal(config_restart_only(a, b, &errs), -EINVAL);
	assert_int_equal(errs.n, 4);
	assert_string_equal(errs.msgs[0], "t.yml: 'workers' changed: it takes effect only when "
			    "nodown restarts; restore the running value to reload the rest");
	assert_non_null(strstr(errs.msgs[1], "'buffers.max' changed"));
	assert_non_null(strstr(errs.msgs[2], "'admin.socket' changed"));
	assert_non_null(strstr(errs.msgs[3], "'log.access' changed"));
	errlist_free(&errs);
	config_free(a);
	config_free(b);
}

static void test_same_address(void **state)
{
	struct sockaddr_storage x, y, z, w;
	const char *why;

	(void)state;
	assert_int_equal(config_parse_address("127.0.0.1:80", &x, &why), 0);
	assert_int_equal(config_parse_address("127.0.0.1:80", &y, &why), 0);
	assert_int_equal(config_parse_address("127.0.0.1:81", &z, &why), 0);
	assert_int_equal(config_parse_address("[::1]:80", &w, &why), 0);
	assert_true(config_same_address(&x, &y));
	assert_false(config_same_address(&x, &z));
	assert_false(config_same_address(&x, &w));
	assert_true(config_same_address(&w, &w));
}

/* Problems everywhere: all reported, in file order, nothing handed out. */
static void test_many_errors(void **state)
{
	(void)state;
	EXPECT_ERRORS("workers: 0\n"
		      "colour: blue\n"
		      "listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:99999\n"
		      "    pool: app\n"
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    balance: fastest\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:1:10: 'workers' must be between 1 and 256, not 0",
		      "t.yml:2:1: unknown key 'colour' in the top level (known keys: workers, "
		      "pid_file, state_file, runs_dir, shutdown_timeout, shutdown_idle_grace, admin, log, status, buffers, "
		      "listeners, pools)",
		      "t.yml:6:11: 'bind': invalid address '127.0.0.1:99999': port must be a number "
		      "from 1 to 65535",
		      "t.yml:11:14: 'balance' must be one of round_robin, least_conn, not 'fastest'");
	/* Cross-object problems come with the value errors, not on a second run. */
	EXPECT_ERRORS("workers: 0\n"
		      "listeners:\n"
		      "  - name: web\n"
		      "    protocol: http\n"
		      "    bind: 127.0.0.1:8080\n"
		      "    pool: nope\n"
		      POOLS,
		      "t.yml:1:10: 'workers' must be between 1 and 256, not 0",
		      "t.yml:6:11: listener 'web' refers to pool 'nope', which is not defined under 'pools'");
}

static void test_buffers_per_worker(void **state)
{
	struct config *c;

	(void)state;
	EXPECT_ERRORS("workers: 2\nbuffers: { max: 31 }\n" LISTENERS POOLS,
		      "t.yml:2:10: buffers.max (31) must allow at least 16 buffers per worker (2 workers)");
	c = load_ok("workers: 2\nbuffers: { max: 32 }\n" LISTENERS POOLS);
	assert_int_equal(c->max_buffers, 32);
	config_free(c);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/nodown-test-config-XXXXXX";
	struct errlist e = { 0 };
	struct config *c = NULL;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, minimal, sizeof(minimal) - 1), (ssize_t)(sizeof(minimal) - 1));
	close(fd);
	assert_int_equal(config_load(path, &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_string_equal(c->path, path);
	assert_int_equal(c->pools[0].nbackends, 2);
	config_free(c);
	unlink(path);

	c = (struct config *)1;
	assert_int_equal(config_load("/nonexistent/nodown.yml", &c, &e), -ENOENT);
	assert_null(c);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], "/nonexistent/nodown.yml: cannot open config file: "
				       "No such file or directory");
	errlist_free(&e);
	config_free(NULL);
}

/* ---- value parsers ----------------------------------------------------------- */

static void test_parse_duration(void **state)
{
	static const struct { const char *s; uint64_t ms; } good[] = {
		{ "0", 0 }, { "500ms", 500 }, { "2s", 2000 }, { "1m", 60000 },
		{ "1h", 3600000 }, { "0s", 0 }, { "007s", 7000 },
		{ "18446744073709551ms", 18446744073709551ull },
	};
	static const char *const bad[] = {
		"", "10", "5x", "s", "ms", "-1s", "+1s", " 1s", "1s ", "1 s", "1.5s",
		"1sec", "1d", "1hh", "99999999999999999999s", "18446744073709552ms",
		"18446744073710s", "5124095576030h",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		v = 12345;
		if (config_parse_duration(good[i].s, &v) != 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(v, good[i].ms);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (config_parse_duration(bad[i], &v) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_parse_size(void **state)
{
	static const struct { const char *s; uint64_t b; } good[] = {
		{ "0", 0 }, { "512", 512 }, { "512b", 512 }, { "16k", 16384 },
		{ "16K", 16384 }, { "16kb", 16384 }, { "16KiB", 16384 }, { "10M", 10485760 },
		{ "10mib", 10485760 }, { "1GiB", 1073741824 }, { "2g", 2147483648ull },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "k", "-1", "+1", " 1", "1 k", "1.5k", "1t", "1kibibyte", "16x",
		"18446744073709551616", "17179869184g", "18014398509481984k",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(good); i++) {
		v = 12345;
		if (config_parse_size(good[i].s, &v) != 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(v, good[i].b);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (config_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_parse_address(void **state)
{
	struct sockaddr_storage ss;
	const char *why;
	char out[64];

	(void)state;
	assert_int_equal(config_parse_address("127.0.0.1:80", &ss, &why), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(port_of(&ss), 80);
	config_format_address(&ss, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1:80");

	assert_int_equal(config_parse_address("[::1]:80", &ss, &why), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(port_of(&ss), 80);
	config_format_address(&ss, out, sizeof(out));
	assert_string_equal(out, "[::1]:80");

	assert_int_equal(config_parse_address("localhost:65535", &ss, &why), 0);
	assert_int_equal(port_of(&ss), 65535);
	assert_int_equal(config_parse_address("0.0.0.0:1", &ss, &why), 0);
	assert_int_equal(port_of(&ss), 1);
	assert_int_equal(config_parse_address("[::]:443", &ss, &why), 0);
	assert_int_equal(ss.ss_family, AF_INET6);

	/* port 0 and port 70000 */
	assert_int_equal(config_parse_address("127.0.0.1:0", &ss, &why), -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");
	assert_int_equal(config_parse_address("127.0.0.1:70000", &ss, &why), -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");
	assert_int_equal(config_parse_address("127.0.0.1:65536", &ss, &why), -EINVAL);
	assert_int_equal(config_parse_address("127.0.0.1:-1", &ss, &why), -EINVAL);
	assert_int_equal(config_parse_address("127.0.0.1:80x", &ss, &why), -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");
	assert_int_equal(config_parse_address("[::1]:0", &ss, &why), -EINVAL);
	assert_string_equal(why, "port must be a number from 1 to 65535");

	/* missing port, missing host, unbracketed IPv6, unclosed bracket */
	static const char *const shape[] = {
		"127.0.0.1", "127.0.0.1:", ":80", "", "::1:80", "[::1]", "[::1]80",
		"[::1:80", "[]:80", "[::1]:",
	};
	for (size_t i = 0; i < ARRAY_LEN(shape); i++) {
		why = NULL;
		if (config_parse_address(shape[i], &ss, &why) != -EINVAL)
			fail_msg("'%s' accepted", shape[i]);
		assert_string_equal(why, "expected HOST:PORT, for example 127.0.0.1:8080 or [::1]:8080");
	}

	assert_int_equal(config_parse_address("nonexistent.invalid:80", &ss, &why), -EINVAL);
	assert_string_equal(why, "host name does not resolve");
}

/* The port is plain digits: strtoul alone would take " 80" or "+80". */
static void test_parse_address_port_digits_only(void **state)
{
	static const char *const bad[] = {
		"127.0.0.1:+80", "127.0.0.1: 80", "[::1]:+80", "127.0.0.1:\t80",
	};
	struct sockaddr_storage ss;
	const char *why;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (config_parse_address(bad[i], &ss, &why) != -EINVAL)
			fail_msg("'%s' accepted as a port", bad[i]);
}

/*
 * An empty name is no name: "- name:" (YAML null) or name: '' is read as
 * the empty string, and a listener with "pool: ''" then finds that pool,
 * so `nodown check` passes a config whose objects cannot be addressed
 * (nodown drain app/...). The same holds for backend and listener names
 * and the admin socket path.
 */
static void test_health(void **state)
{
	struct config *c;

	(void)state;
	/* Absent: a TCP connect every 2 s. */
	c = load_ok(LISTENERS POOLS);
	assert_ptr_equal(c->pools[0].health.probe, &tcp_probe);
	assert_int_equal(c->pools[0].health.interval_ms, 2000);
	assert_int_equal(HP(&c->pools[0])->passive_fall, 3);
	assert_int_equal(HP(&c->pools[0])->slowstart_ms, 0);
	config_free(c);
	/* The example, as written: a path makes it an HTTP check. */
	c = load_ok(LISTENERS
		    "pools:\n"
		    "  - name: app\n"
		    "    protocol: http\n"
		    "    health: { path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2 }\n"
		    "    slowstart: 5s\n"
		    "    backends:\n"
		    "      - { name: ap1, address: 127.0.0.1:9001 }\n");
	assert_ptr_equal(c->pools[0].health.probe, &http_probe);
	assert_string_equal(HC(&c->pools[0])->path, "/healthz");
	assert_string_equal(HC(&c->pools[0])->method, "GET");
	assert_int_equal(HC(&c->pools[0])->expect_min, 200);
	assert_int_equal(HC(&c->pools[0])->expect_max, 399);
	assert_int_equal(c->pools[0].health.timeout_ms, 500);
	assert_int_equal(HP(&c->pools[0])->slowstart_ms, 5000);
	config_free(c);
	c = load_ok(LISTENERS
		    "pools:\n"
		    "  - name: app\n"
		    "    protocol: http\n"
		    "    health: { type: http, expect: 2xx, host: app.local }\n"
		    "    backends:\n"
		    "      - { name: ap1, address: 127.0.0.1:9001 }\n");
	assert_int_equal(HC(&c->pools[0])->expect_min, 200);
	assert_int_equal(HC(&c->pools[0])->expect_max, 299);
	assert_string_equal(HC(&c->pools[0])->host, "app.local");
	config_free(c);
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    health: { type: tcp, path: /x, expect: 600 }\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:9:26: health: 'path' applies to type http, and this check is of type tcp; "
		      "remove it or set type: http",
		      "t.yml:9:36: health: 'expect' applies to type http, and this check is of type tcp; "
		      "remove it or set type: http");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    health: { path: /x, expect: 600 }\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:9:33: health.expect must be a status (200), a range (200-399) or a class "
		      "(2xx), not '600'");
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    health: { type: pg }\n"
		      "    backends:\n"
		      "      - { name: ap1, address: 127.0.0.1:9001 }\n",
		      "t.yml:9:21: health type 'pg' does not apply to http pools (types: tcp, http)");
}

static void test_names_are_url_safe(void **state)
{
	(void)state;
	EXPECT_ERRORS(LISTENERS
		      "pools:\n"
		      "  - name: app\n"
		      "    protocol: http\n"
		      "    backends:\n"
		      "      - { name: 'a/b', address: 127.0.0.1:9001 }\n",
		      "t.yml:10:17: 'name' must be a non-empty name of letters, digits, '-', '_' and '.' "
		      "(it appears in URLs and 'POOL/BACKEND' arguments), not 'a/b'");
	config_free(load_ok(LISTENERS
			    "pools:\n"
			    "  - name: app\n"
			    "    protocol: http\n"
			    "    backends:\n"
			    "      - { name: web-1.blue_2, address: 127.0.0.1:9001 }\n"));
}

static void test_empty_strings_refused(void **state)
{
	static const char *const yaml[] = {
		"listeners:\n"
		"  - { name: web, protocol: http, bind: 127.0.0.1:8080, pool: '' }\n"
		"pools:\n"
		"  - name:\n"
		"    protocol: http\n"
		"    backends:\n"
		"      - { name: ap1, address: 127.0.0.1:9001 }\n",

		"listeners:\n"
		"  - { name: '', protocol: http, bind: 127.0.0.1:8080, pool: app }\n"
		POOLS,

		LISTENERS
		"pools:\n"
		"  - name: app\n"
		"    protocol: http\n"
		"    backends:\n"
		"      - { name: '', address: 127.0.0.1:9001 }\n",

		"admin: { socket: '' }\n" LISTENERS POOLS,
	};
	int accepted = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(yaml); i++) {
		struct errlist e = { 0 };
		struct config *c = NULL;

		if (config_load_string(NAME, yaml[i], strlen(yaml[i]), &c, &e) == 0) {
			print_message("config %zu with an empty name accepted\n", i);
			accepted++;
		}
		assert_int_equal(e.n == 0, c != NULL);
		config_free(c);
		errlist_free(&e);
	}
	assert_int_equal(accepted, 0);
}

static void test_errlist(void **state)
{
	struct errlist e = { 0 };

	(void)state;
	errlist_add(&e, "f.yml", 3, 7, "bad %s %d", "thing", 42);
	errlist_add(&e, "f.yml", 0, 0, "%s", "second");
	assert_int_equal(e.n, 2);
	assert_string_equal(e.msgs[0], "f.yml:3:7: bad thing 42");
	assert_string_equal(e.msgs[1], "f.yml: second");	/* line 0: the whole file */
	errlist_free(&e);
	assert_int_equal(e.n, 0);
	errlist_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_least_conn_and_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_bad_enum),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_duplicate_reported_once),
		cmocka_unit_test(test_undefined_pool),
		cmocka_unit_test(test_same_bind),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_yaml_syntax),
		cmocka_unit_test(test_key_twice),
		cmocka_unit_test(test_header_size_vs_buffers),
		cmocka_unit_test(test_log_error_off),
		cmocka_unit_test(test_restart_only),
		cmocka_unit_test(test_protocol_keys),
		cmocka_unit_test(test_same_address),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_buffers_per_worker),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_address),
		cmocka_unit_test(test_parse_address_port_digits_only),
		cmocka_unit_test(test_empty_strings_refused),
		cmocka_unit_test(test_names_are_url_safe),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_errlist),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
