/*
 * test_confdir.c - core/confdir.c: a configuration directory read as one
 * document.
 *
 * Covers the order of files (by name, only *.yml and *.yaml, no dotfiles),
 * listeners and pools adding up across files, a top-level key set in two
 * files (an error naming both), a file that is not a mapping, a YAML error,
 * an empty file, an empty directory, and that every node of the merged
 * document keeps its line and the file it came from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/confdir.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/nodown-confdir-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static yaml_node_t *value_of(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
		if (!strcmp((char *)yaml_document_get_node(d, p->key)->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	return NULL;
}

static const char *file_of(struct confdir *cd, yaml_node_t *n)
{
	const char *f = cd->node_files[n - cd->doc.nodes.start];

	return strrchr(f, '/') + 1;
}

static void test_lists_add_up_in_name_order(void **state)
{
	struct errlist errs = { 0 };
	struct confdir cd;
	yaml_node_t *root, *pools, *first, *second;

	(void)state;
	put("20-b.yml", "pools:\n  - name: b\n");
	put("10-a.yaml", "workers: 2\npools:\n  - name: a\n");
	put(".hidden.yml", "pools: [ { name: hidden } ]\n");
	put("notes.txt", "pools: nope\n");
	put("30-empty.yml", "");
	assert_int_equal(confdir_load(dir, &cd, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cd.nfiles, 3);
	root = yaml_document_get_root_node(&cd.doc);
	pools = value_of(&cd.doc, root, "pools");
	assert_int_equal(pools->data.sequence.items.top - pools->data.sequence.items.start, 2);
	first = yaml_document_get_node(&cd.doc, pools->data.sequence.items.start[0]);
	second = yaml_document_get_node(&cd.doc, pools->data.sequence.items.start[1]);
	assert_string_equal((char *)value_of(&cd.doc, first, "name")->data.scalar.value, "a");
	assert_string_equal(file_of(&cd, first), "10-a.yaml");
	assert_int_equal(first->start_mark.line, 2);
	assert_string_equal(file_of(&cd, value_of(&cd.doc, second, "name")), "20-b.yml");
	assert_int_equal(value_of(&cd.doc, second, "name")->start_mark.line, 1);
	assert_string_equal((char *)value_of(&cd.doc, root, "workers")->data.scalar.value, "2");
	confdir_free(&cd);
	errlist_free(&errs);
}

static void test_problems_name_their_file(void **state)
{
	struct errlist errs = { 0 };
	struct confdir cd;
	char want[256];

	(void)state;
	put("a.yml", "workers: 2\n");
	put("b.yml", "pools: []\nworkers: 3\n");
	put("c.yml", "- a list\n");
	put("d.yml", "pools: [\n");
	assert_int_equal(confdir_load(dir, &cd, &errs), -1);
	assert_int_equal(errs.n, 3);
	snprintf(want, sizeof(want), "%s/b.yml:2:1: 'workers' is also set in %s/a.yml:1;", dir, dir);
	assert_memory_equal(errs.msgs[0], want, strlen(want));
	snprintf(want, sizeof(want), "%s/c.yml:1:1: a file of a configuration directory holds a mapping", dir);
	assert_memory_equal(errs.msgs[1], want, strlen(want));
	snprintf(want, sizeof(want), "%s/d.yml:", dir);
	assert_memory_equal(errs.msgs[2], want, strlen(want));
	assert_non_null(strstr(errs.msgs[2], "YAML syntax error"));
	confdir_free(&cd);
	errlist_free(&errs);
}

static void test_an_empty_directory(void **state)
{
	struct errlist errs = { 0 };
	struct confdir cd;

	(void)state;
	assert_int_equal(confdir_load(dir, &cd, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0], "no *.yml or *.yaml file"));
	confdir_free(&cd);
	errlist_free(&errs);
	assert_int_equal(confdir_load("/nonexistent-nodown-dir", &cd, &errs), -1);
	assert_non_null(strstr(errs.msgs[0], "cannot read the configuration directory"));
	confdir_free(&cd);
	errlist_free(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lists_add_up_in_name_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_problems_name_their_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_an_empty_directory, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
