/* Generator of the committed golden file (see tests/data/golden/README.md). */
#ifndef BALE_TEST_FMT_GOLDEN_GEN_H
#define BALE_TEST_FMT_GOLDEN_GEN_H

#include "bale/fmt.h"

fmt_status bale_golden_write(const char *path, fmt_error *err);

#endif
