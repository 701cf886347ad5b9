/*
 * fuzz_main.c: a standalone driver for libFuzzer harnesses, so a corpus
 * replays under ctest with the normal compiler (the idea of systemd's
 * src/fuzz/fuzz-main.c).  Every argument is a file or a directory; a
 * directory's regular files run in name order (hidden files are skipped).
 * A failing input aborts inside the harness, which ctest reports.
 *
 *   fuzz_expo_replay fuzz/corpus/expo [more files or directories...]
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file into a heap buffer (never NULL on success). */
static int
read_file(const char *path, uint8_t **ret, size_t *ret_size)
{
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;
	FILE *f;
	int r = 0;

	f = fopen(path, "rb");
	if (f == NULL)
		return errno > 0 ? -errno : -EIO;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			nbuf = realloc(buf, cap);
			if (nbuf == NULL) {
				r = -ENOMEM;
				break;
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				r = -EIO;
			break;
		}
	}
	fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret = buf;
	*ret_size = len;
	return 0;
}

static int
run_file(const char *path)
{
	uint8_t *data = NULL;
	size_t size = 0;
	int r;

	r = read_file(path, &data, &size);
	if (r < 0) {
		fprintf(stderr, "fuzz_main: '%s': %s\n", path, strerror(-r));
		return r;
	}
	fprintf(stderr, "fuzz_main: %s (%zu bytes)\n", path, size);
	/* A private copy, so reads past the end are caught by ASan. */
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

static int
skip_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Returns the number of inputs run, or -errno. */
static int
run_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	char *p;
	int n, i, count = 0, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "fuzz_main: '%s': %m\n", path);
		return -EIO;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path) < 0 ? -EIO : 1;

	n = scandir(path, &ents, skip_hidden, alphasort);
	if (n < 0) {
		fprintf(stderr, "fuzz_main: '%s': %m\n", path);
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		if (r == 0) {
			if (asprintf(&p, "%s/%s", path, ents[i]->d_name) < 0) {
				r = -ENOMEM;
			} else {
				if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
					if (run_file(p) < 0)
						r = -EIO;
					else
						count++;
				}
				free(p);
			}
		}
		free(ents[i]);
	}
	free(ents);
	return r < 0 ? r : count;
}

int
main(int argc, char **argv)
{
	int i, r, total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return EXIT_FAILURE;
	}
	/* The empty input always runs once. */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	for (i = 1; i < argc; i++) {
		r = run_path(argv[i]);
		if (r < 0)
			return EXIT_FAILURE;
		total += r;
	}
	if (total == 0) {
		fprintf(stderr, "fuzz_main: no inputs found\n");
		return EXIT_FAILURE;
	}
	fprintf(stderr, "fuzz_main: %d inputs OK\n", total);
	return EXIT_SUCCESS;
}
