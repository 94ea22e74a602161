/* planted.c - a deliberate breach of the core's purity, for the lints' own tests.
 *
 * ctest runs tests/lint/core_includes.sh on this file and tests/lint/core_symbols.sh on
 * its archive (liblint_planted.a) and expects both to fail with exit 1 (CMakeLists.txt,
 * lint_*_planted): a lint that quietly stopped finding anything would pass the real
 * checks forever.  Built as an archive only, never linked into a program.
 */
#include <nng/nng.h>
#include <time.h>

int lint_planted(void);

int lint_planted(void)
{
	struct timespec ts;
	nng_socket s = NNG_SOCKET_INITIALIZER;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return nng_close(s) + (int)(ts.tv_sec & 1);
}
