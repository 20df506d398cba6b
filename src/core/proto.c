/*
 * proto.c - finding protocol modules in the table src/modules.c defines.
 */
#include "proto.h"

const struct proto_module *proto_find(const char *name)
{
	for (const struct proto_module *const *m = proto_modules; *m; m++)
		if (!strcmp((*m)->name, name))
			return *m;
	return NULL;
}

void proto_names(char *out, size_t n)
{
	out[0] = '\0';
	for (const struct proto_module *const *m = proto_modules; *m; m++) {
		strncat(out, m == proto_modules ? "" : ", ", n - strlen(out) - 1);
		strncat(out, (*m)->name, n - strlen(out) - 1);
	}
}
