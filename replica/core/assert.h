/* assert.h - CORE_ASSERT: the protocol cores' invariants, checked in every build.
 *
 * A core is a pure state machine (core.h): when one of its invariants breaks, the
 * step that broke it is the one to stop at, not the output that shows it later (a
 * wrong reply, a diverged digest, a stall).  CORE_ASSERT(cond) prints file:line and
 * the condition to stderr and calls abort() when cond is false.  Unlike assert(3) it
 * is not compiled out by NDEBUG: release replicas, the simulator, the fuzzers and
 * the unit tests all check it.  (cmocka 1.1 does not catch SIGABRT: a failed
 * assertion in a unit test kills the test binary, which ctest reports as failed,
 * with the file:line above on stderr; the tests after it in that binary do not run.)
 *
 * Assert only what correct code guarantees.  Never assert what a message can make
 * false: input from the network is validated, rejected and counted, never asserted.
 */
#ifndef BYZLAB_CORE_ASSERT_H
#define BYZLAB_CORE_ASSERT_H

/* Prints "FILE:LINE: FUNC: core assertion failed: COND" to stderr and aborts.  It lives
 * outside the cores (replica/core_assert.c), which include no stdio. */
void core_assert_fail(const char *file, int line, const char *func, const char *cond)
	__attribute__((noreturn));

#define CORE_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond))                                                   \
			core_assert_fail(__FILE__, __LINE__, __func__, #cond); \
	} while (0)

#endif
