/* replay_main.c - run a fuzz target's entry point over files, without libFuzzer.
 *
 *   fuzz_TARGET_replay [--allow-missing] PATH...
 *
 * A PATH may be a file or a directory of files; with --allow-missing a PATH that does
 * not exist is skipped (a target may have no regression inputs yet).
 *
 * Linked with one fuzz_TARGET.c in the normal build (gcc, optionally ASan+UBSan), it
 * replays the committed regression inputs and seed corpora as a plain ctest: a crash,
 * sanitizer report or violated invariant fails the test.  Prints how many inputs ran.
 * Exit 0 if every input ran (and at least one did), 1 otherwise.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz_common.h"

#define REPLAY_MAX_FILE (16u << 20)

static unsigned long ran;
static int allow_missing;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t *data = malloc(REPLAY_MAX_FILE);
	if (!data) {
		fclose(f);
		return -1;
	}
	size_t len = fread(data, 1, REPLAY_MAX_FILE, f);
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "%s: unreadable or larger than %u bytes\n", path, REPLAY_MAX_FILE);
		free(data);
		return -1;
	}
	/* an exact-size copy, so ASan sees a read one byte past the input */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(data);
		return -1;
	}
	memcpy(exact, data, len);
	free(data);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	ran++;
	return 0;
}

static int run_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (allow_missing && errno == ENOENT)
			return 0;
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char sub[4096];
		if (names[i]->d_name[0] != '.' &&
		    snprintf(sub, sizeof(sub), "%s/%s", path, names[i]->d_name) < (int)sizeof(sub))
			rc |= run_path(sub);
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0, first = 1;
	if (argc > 1 && !strcmp(argv[1], "--allow-missing")) {
		allow_missing = 1;
		first = 2;
	}
	if (argc <= first) {
		fprintf(stderr, "usage: %s [--allow-missing] FILE|DIR...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = first; i < argc; i++)
		rc |= run_path(argv[i]);
	printf("%s: %lu inputs replayed%s\n", argv[0], ran, rc ? " (some unreadable)" : "");
	return rc || ran == 0 ? 1 : 0;
}
