/* \boxed{} extraction and whitespace normalization of `bale eval --tasks`. */
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "testutil.h"

static void expect(const char *text, const char *want)
{
	bool nomem = true;
	char *got = eval_extract_boxed(text, strlen(text), &nomem);
	assert_false(nomem);
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_boxed(void **state)
{
	(void)state;
	expect("so the answer is \\boxed{42}.", "42");
	expect("\\boxed{1} then \\boxed{ 7 }", "7");                 /* the last one, normalized */
	expect("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}");             /* nested braces kept */
	expect("\\boxed{3} and then \\boxed{4", NULL);               /* the last one is cut off */
	expect("no answer here", NULL);
	expect("\\boxed{", NULL);
	expect("boxed{5}", NULL);
	expect("", NULL);
	expect("\\boxed{}", "");
	expect("\\boxed{ 1 \n\t 000 }", "1 000");
	expect("\\boxed{a}\\boxed{b}", "b");
}

static void test_boxed_not_nul_terminated(void **state)
{
	(void)state;
	const char text[] = "\\boxed{12}\\boxed{34}";
	bool nomem;
	char *got = eval_extract_boxed(text, 10, &nomem); /* only the first box is in range */
	assert_non_null(got);
	assert_string_equal(got, "12");
	free(got);
	assert_null(eval_extract_boxed(text, 9, &nomem)); /* its closing brace is cut off */
}

static void test_normalize(void **state)
{
	(void)state;
	char a[] = "  a \t b\n\nc  ";
	eval_normalize(a);
	assert_string_equal(a, "a b c");
	char b[] = " \n ";
	eval_normalize(b);
	assert_string_equal(b, "");
	char c[] = "x";
	eval_normalize(c);
	assert_string_equal(c, "x");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boxed),
		cmocka_unit_test(test_boxed_not_nul_terminated),
		cmocka_unit_test(test_normalize),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
