/* core_assert.c - what CORE_ASSERT (replica/core/assert.h) does when an invariant of a
 * protocol core breaks: say where, then abort.  Outside replica/core/ so that the cores
 * include no stdio (they do no IO of any kind). */
#include <stdio.h>
#include <stdlib.h>

#include "replica/core/assert.h"

void core_assert_fail(const char *file, int line, const char *func, const char *cond)
{
	fprintf(stderr, "%s:%d: %s: core assertion failed: %s\n", file, line, func, cond);
	fflush(stderr);
	abort();
}
