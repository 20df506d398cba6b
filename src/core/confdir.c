/*
 * confdir.c - a configuration directory read as one document (confdir.h).
 *
 * Owns: the merged document, the paths of the files and the table of
 *       which file each node came from.
 * Invariants: every node of the merged document is a copy of a node of one
 *             file, with that node's marks (line, column), so messages
 *             point into the file the operator wrote; a top-level key other
 *             than listeners and pools comes from one file only.
 * Runs on: the control thread, and `nodown check`.
 */
#include "confdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define COPY_DEPTH_MAX 64	/* nesting of a config is a handful of levels */

static int yaml_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	if (e->d_name[0] == '.')
		return 0;
	return (n > 4 && !strcmp(e->d_name + n - 4, ".yml")) || (n > 5 && !strcmp(e->d_name + n - 5, ".yaml"));
}

/* Note that node id of the merged document came from file. */
static void note_file(struct confdir *cd, int id, char *file)
{
	cd->node_files = xrealloc(cd->node_files, sizeof(char *) * (size_t)id);
	cd->node_files[id - 1] = file;
}

/* Copy node n of src (and what it holds) into cd's document: its id, or 0. */
static int copy_node(struct confdir *cd, yaml_document_t *src, yaml_node_t *n, char *file, int depth)
{
	yaml_document_t *d = &cd->doc;
	int id = 0;

	if (depth > COPY_DEPTH_MAX)
		return 0;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		id = yaml_document_add_scalar(d, n->tag, n->data.scalar.value, (int)n->data.scalar.length,
					      n->data.scalar.style);
		break;
	case YAML_SEQUENCE_NODE:
		id = yaml_document_add_sequence(d, n->tag, n->data.sequence.style);
		break;
	case YAML_MAPPING_NODE:
		id = yaml_document_add_mapping(d, n->tag, n->data.mapping.style);
		break;
	default:
		return 0;
	}
	if (!id)
		return 0;
	yaml_document_get_node(d, id)->start_mark = n->start_mark;
	yaml_document_get_node(d, id)->end_mark = n->end_mark;
	note_file(cd, id, file);
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			int c = copy_node(cd, src, yaml_document_get_node(src, *it), file, depth + 1);

			if (!c || !yaml_document_append_sequence_item(d, id, c))
				return 0;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			int k = copy_node(cd, src, yaml_document_get_node(src, p->key), file, depth + 1);
			int v = k ? copy_node(cd, src, yaml_document_get_node(src, p->value), file, depth + 1) : 0;

			if (!v || !yaml_document_append_mapping_pair(d, id, k, v))
				return 0;
		}
	}
	return id;
}

/* The merged root's value for key, a scalar node's text; its pair or NULL. */
static yaml_node_pair_t *root_pair(struct confdir *cd, const char *key)
{
	yaml_node_t *root = yaml_document_get_root_node(&cd->doc);

	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&cd->doc, p->key);

		if (k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return p;
	}
	return NULL;
}

/* Merge the top-level mapping of one file into the merged root. */
static void merge_file(struct confdir *cd, yaml_document_t *src, char *file, struct errlist *errs)
{
	yaml_node_t *root = yaml_document_get_root_node(src);

	if (!root)
		return;		/* an empty file adds nothing */
	if (root->type != YAML_MAPPING_NODE) {
		errlist_add(errs, file, (int)root->start_mark.line + 1, (int)root->start_mark.column + 1,
			    "a file of a configuration directory holds a mapping of top-level keys "
			    "(listeners:, pools:, ...)");
		return;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(src, p->key), *v = yaml_document_get_node(src, p->value);
		const char *key = k->type == YAML_SCALAR_NODE ? (char *)k->data.scalar.value : "";
		bool list = !strcmp(key, "listeners") || !strcmp(key, "pools");
		yaml_node_pair_t *have = root_pair(cd, key);
		yaml_node_t *hv;

		if (have && list && v->type == YAML_SEQUENCE_NODE &&
		    (hv = yaml_document_get_node(&cd->doc, have->value))->type == YAML_SEQUENCE_NODE) {
			int seq = have->value;

			for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
				int c = copy_node(cd, src, yaml_document_get_node(src, *it), file, 0);

				if (c)
					yaml_document_append_sequence_item(&cd->doc, seq, c);
			}
			continue;
		}
		if (have) {
			yaml_node_t *first = yaml_document_get_node(&cd->doc, have->key);

			errlist_add(errs, file, (int)k->start_mark.line + 1, (int)k->start_mark.column + 1,
				    "'%s' is also set in %s:%d; a top-level key other than listeners and "
				    "pools belongs in one file of the directory", key,
				    cd->node_files[first - cd->doc.nodes.start], (int)first->start_mark.line + 1);
			continue;
		}
		{
			int kid = copy_node(cd, src, k, file, 0), vid = kid ? copy_node(cd, src, v, file, 0) : 0;
			int rid = (int)(yaml_document_get_root_node(&cd->doc) - cd->doc.nodes.start) + 1;

			if (vid)
				yaml_document_append_mapping_pair(&cd->doc, rid, kid, vid);
		}
	}
}

int confdir_load(const char *dir, struct confdir *cd, struct errlist *errs)
{
	struct dirent **list = NULL;
	int n = scandir(dir, &list, yaml_file, alphasort), nerr = errs->n, root;

	memset(cd, 0, sizeof(*cd));
	if (!yaml_document_initialize(&cd->doc, NULL, NULL, NULL, 1, 1))
		nd_die("out of memory");
	if (n < 0) {
		errlist_add(errs, dir, 0, 0, "cannot read the configuration directory: %s", strerror(errno));
		return -1;
	}
	root = yaml_document_add_mapping(&cd->doc, NULL, YAML_BLOCK_MAPPING_STYLE);
	note_file(cd, root, (char *)dir);
	cd->files = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		yaml_parser_t parser;
		yaml_document_t doc;
		char *path = xmalloc(strlen(dir) + strlen(list[i]->d_name) + 2);
		FILE *f;

		sprintf(path, "%s/%s", dir, list[i]->d_name);
		cd->files[cd->nfiles++] = path;
		free(list[i]);
		if (!(f = fopen(path, "rb"))) {
			errlist_add(errs, path, 0, 0, "cannot open: %s", strerror(errno));
			continue;
		}
		yaml_parser_initialize(&parser);
		yaml_parser_set_input_file(&parser, f);
		if (!yaml_parser_load(&parser, &doc)) {
			errlist_add(errs, path, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
				    "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "unknown",
				    parser.context ? " " : "", parser.context ? parser.context : "");
		} else {
			merge_file(cd, &doc, path, errs);
			yaml_document_delete(&doc);
		}
		yaml_parser_delete(&parser);
		fclose(f);
	}
	free(list);
	if (n == 0)
		errlist_add(errs, dir, 0, 0, "no *.yml or *.yaml file in this configuration directory");
	return errs->n == nerr ? 0 : -1;
}

void confdir_free(struct confdir *cd)
{
	yaml_document_delete(&cd->doc);
	for (int i = 0; i < cd->nfiles; i++)
		free(cd->files[i]);
	free(cd->files);
	free(cd->node_files);
	memset(cd, 0, sizeof(*cd));
}
