/* bale_make_golden OUT.bale          writes the golden test file (tests/data/golden/README.md)
 * bale_make_golden --sample OUT.bale writes the small sample used by the malformed-file tests
 *                                    (a fuzz seed: tests/fuzz/corpus/valid-sample.bale) */
#include <stdio.h>
#include <string.h>

#include "test_fmt_common.h"
#include "test_fmt_golden_gen.h"

int main(int argc, char **argv)
{
	fmt_error err;
	fmt_status st;
	if (argc == 3 && strcmp(argv[1], "--sample") == 0)
		st = tfc_write_sample(argv[2], &err);
	else if (argc == 2 && argv[1][0] != '-')
		st = bale_golden_write(argv[1], &err);
	else {
		fprintf(stderr, "usage: %s [--sample] OUT.bale\n", argv[0]);
		return 2;
	}
	if (st != FMT_OK) {
		fprintf(stderr, "bale_make_golden: %s\n", err.msg);
		return 1;
	}
	return 0;
}
