/* Runs the reader fuzz target over every file of the given directories (or files), so ctest
 * replays the corpus without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
	if (!b || (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n)) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		fclose(f);
		free(b);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(b, (size_t)n);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 0, bad = 0;
	for (int a = 1; a < argc; a++) {
		struct stat sb;
		if (stat(argv[a], &sb) != 0) {
			fprintf(stderr, "replay: %s: not found\n", argv[a]);
			return 1;
		}
		if (!S_ISDIR(sb.st_mode)) {
			bad += run_file(argv[a]);
			runs++;
			continue;
		}
		DIR *d = opendir(argv[a]);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			size_t n = strlen(argv[a]) + strlen(e->d_name) + 2;
			char *p = malloc(n);
			snprintf(p, n, "%s/%s", argv[a], e->d_name);
			bad += run_file(p);
			runs++;
			free(p);
		}
		if (d)
			closedir(d);
	}
	printf("replay: %d inputs, %d unreadable\n", runs, bad);
	if (runs == 0) {
		fprintf(stderr, "replay: empty corpus\n");
		return 1;
	}
	return bad ? 1 : 0;
}
