/*
 * test_calc: the arithmetic's overflow checks, and the calculation log
 * behind getStruct — the newest result for a key wins, the oldest
 * calculations are forgotten first, keys are reused, and a log of a
 * million entries is filled and queried.  A model log (a plain array
 * searched newest first) checks long random runs.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"

#define MILLION		1000000

static void
teardown(void)
{
	calc_log_free();
}

/* Log {key, value} the way calculate does: key + 0 = value. */
static void
log_put(int32_t key, int32_t value)
{
	struct calc_work	w = { .num1 = value, .num2 = 0, .op = CALC_ADD };
	int32_t			result = 0;

	ck_assert_int_eq(calc_calculate(key, &w, &result), CALC_OK);
	ck_assert_int_eq(result, value);
}

/*
 * Whether the log answers key with value.  Plain C, no Check assertion:
 * each passing one costs a system call, and the big loops make millions.
 */
static bool
logged_as(int32_t key, int32_t value)
{
	struct calc_shared_struct	s;
	char				want[CALC_VALUE_LEN];

	if (!calc_log_get(key, &s))
		return false;
	snprintf(want, sizeof want, "%ld", (long)value);
	return s.key == key && strcmp(s.value, want) == 0;
}

static void
assert_logged(int32_t key, int32_t value)
{
	struct calc_shared_struct	s;
	char				want[CALC_VALUE_LEN];

	memset(&s, 0x5a, sizeof s);
	ck_assert_msg(calc_log_get(key, &s), "key %ld not found", (long)key);
	snprintf(want, sizeof want, "%ld", (long)value);
	ck_assert_int_eq(s.key, key);
	ck_assert_str_eq(s.value, want);
}

static void
assert_not_logged(int32_t key)
{
	struct calc_shared_struct s;

	ck_assert_msg(!calc_log_get(key, &s), "key %ld still found (value %s)", (long)key,
	    s.value);
}

/* --- arithmetic ------------------------------------------------------------ */

START_TEST(add_subtract_bounds)
{
	int32_t r = 0;

	ck_assert_int_eq(calc_add(INT32_MAX, 0, &r), CALC_OK);
	ck_assert_int_eq(r, INT32_MAX);
	ck_assert_int_eq(calc_add(INT32_MAX, 1, &r), CALC_OVERFLOW);
	ck_assert_int_eq(calc_add(INT32_MIN, -1, &r), CALC_OVERFLOW);
	ck_assert_int_eq(calc_add(INT32_MIN, INT32_MAX, &r), CALC_OK);
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(calc_subtract(INT32_MIN, 1, &r), CALC_OVERFLOW);
	ck_assert_int_eq(calc_subtract(0, INT32_MIN, &r), CALC_OVERFLOW);
	ck_assert_int_eq(calc_subtract(-1, INT32_MIN, &r), CALC_OK);
	ck_assert_int_eq(r, INT32_MAX);
}
END_TEST

START_TEST(calculate_bounds)
{
	static const struct {
		int32_t			num1, num2, op;
		enum calc_status	want;
		int32_t			result;
	} cases[] = {
		{ 46341, 46340, CALC_MULTIPLY, CALC_OK, 2147441940 },
		{ 46341, 46341, CALC_MULTIPLY, CALC_OVERFLOW, 0 },
		{ INT32_MIN, -1, CALC_MULTIPLY, CALC_OVERFLOW, 0 },
		{ INT32_MIN, 1, CALC_MULTIPLY, CALC_OK, INT32_MIN },
		{ INT32_MIN, -1, CALC_DIVIDE, CALC_OVERFLOW, 0 },
		{ INT32_MIN, 1, CALC_DIVIDE, CALC_OK, INT32_MIN },
		{ -7, 2, CALC_DIVIDE, CALC_OK, -3 },	/* truncates toward zero */
		{ 1, 0, CALC_DIVIDE, CALC_DIVIDE_BY_ZERO, 0 },
		{ 1, 1, 5, CALC_INVALID_OPERATION, 0 },
		{ INT32_MAX, 1, CALC_SUBTRACT, CALC_OK, INT32_MAX - 1 },
	};

	ck_assert_int_eq(calc_log_init(16), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct calc_work	w = { cases[i].num1, cases[i].num2, cases[i].op };
		int32_t			r = 12345;

		ck_assert_msg(calc_calculate((int32_t)i, &w, &r) == cases[i].want,
		    "case %zu", i);
		if (cases[i].want == CALC_OK) {
			ck_assert_int_eq(r, cases[i].result);
			assert_logged((int32_t)i, cases[i].result);
		} else {
			assert_not_logged((int32_t)i);	/* failures aren't logged */
		}
	}
}
END_TEST

/* --- the log ------------------------------------------------------------------ */

START_TEST(log_empty_and_init)
{
	ck_assert_int_eq(calc_log_init(0), -1);
	ck_assert_int_eq(calc_log_init(1), 0);
	assert_not_logged(0);
	log_put(0, 5);
	assert_logged(0, 5);
	/* a new log forgets the old one */
	ck_assert_int_eq(calc_log_init(4), 0);
	assert_not_logged(0);
	/* a freed log knows nothing, and logging into it is harmless */
	calc_log_free();
	log_put(1, 1);
	assert_not_logged(1);
}
END_TEST

START_TEST(log_newest_wins)
{
	ck_assert_int_eq(calc_log_init(8), 0);
	log_put(7, 1);
	log_put(7, 2);
	log_put(8, 3);
	log_put(7, 4);
	assert_logged(7, 4);
	assert_logged(8, 3);
	log_put(INT32_MIN, -1);
	log_put(INT32_MAX, 1);
	assert_logged(INT32_MIN, -1);
	assert_logged(INT32_MAX, 1);
	assert_not_logged(0);
}
END_TEST

/* The last `capacity` calculations are kept, no more. */
START_TEST(log_eviction)
{
	ck_assert_int_eq(calc_log_init(4), 0);
	for (int32_t k = 1; k <= 4; k++)
		log_put(k, k * 10);
	for (int32_t k = 1; k <= 4; k++)
		assert_logged(k, k * 10);
	log_put(5, 50);
	assert_not_logged(1);
	for (int32_t k = 2; k <= 5; k++)
		assert_logged(k, k * 10);
	for (int32_t k = 6; k <= 9; k++)
		log_put(k, k * 10);
	for (int32_t k = 1; k <= 5; k++)
		assert_not_logged(k);
	for (int32_t k = 6; k <= 9; k++)
		assert_logged(k, k * 10);
}
END_TEST

/* An evicted entry takes its key along only if no newer entry has it. */
START_TEST(log_key_reuse)
{
	ck_assert_int_eq(calc_log_init(3), 0);
	log_put(1, 100);		/* slot 0 */
	log_put(2, 200);		/* slot 1 */
	log_put(1, 101);		/* slot 2: newer 1 */
	log_put(3, 300);		/* overwrites slot 0, the older 1 */
	assert_logged(1, 101);
	assert_logged(2, 200);
	assert_logged(3, 300);
	log_put(4, 400);		/* overwrites slot 1: 2 is gone */
	assert_not_logged(2);
	assert_logged(1, 101);
	log_put(5, 500);		/* overwrites slot 2: the newer 1 is gone too */
	assert_not_logged(1);
	/* a key logged again after it was forgotten */
	log_put(1, 102);
	assert_logged(1, 102);
	assert_logged(4, 400);
	assert_logged(5, 500);
	assert_not_logged(3);
	/* capacity 1: each calculation replaces the last */
	ck_assert_int_eq(calc_log_init(1), 0);
	log_put(9, 9);
	log_put(9, 10);
	assert_logged(9, 10);
	log_put(8, 8);
	assert_not_logged(9);
	assert_logged(8, 8);
}
END_TEST

/* Log key k * 7 = k for k in [from, to); 0, or the first k calculate refused + 1. */
static int32_t
log_range(int32_t from, int32_t to)
{
	for (int32_t k = from; k < to; k++) {
		struct calc_work	w = { .num1 = k, .num2 = 0, .op = CALC_ADD };
		int32_t			result;

		if (calc_calculate(k * 7, &w, &result) != CALC_OK)
			return k + 1;
	}
	return 0;
}

/* How many k in [from, to) the log answers (k * 7 -> k) other than `want` says. */
static int32_t
wrong_in_range(int32_t from, int32_t to, bool want, int32_t *first)
{
	int32_t wrong = 0;

	for (int32_t k = to; k-- > from; ) {
		if (logged_as(k * 7, k) != want) {
			*first = k;
			wrong++;
		}
	}
	return wrong;
}

/* A log of the largest configurable size, filled, queried and turned over. */
START_TEST(log_million)
{
	int32_t first = -1;

	ck_assert_int_eq(calc_log_init(MILLION), 0);
	ck_assert_int_eq(log_range(0, MILLION), 0);
	ck_assert_msg(wrong_in_range(0, MILLION, true, &first) == 0, "key %ld", (long)first * 7);
	assert_not_logged(1);
	assert_not_logged(-7);
	/* half a million more: the oldest half goes, in order */
	ck_assert_int_eq(log_range(MILLION, MILLION + MILLION / 2), 0);
	ck_assert_msg(wrong_in_range(0, MILLION / 2, false, &first) == 0, "key %ld still there",
	    (long)first * 7);
	ck_assert_msg(wrong_in_range(MILLION / 2, MILLION + MILLION / 2, true, &first) == 0,
	    "key %ld", (long)first * 7);
}
END_TEST

/* Long random runs over few keys (many collisions) against a plain model. */
START_TEST(log_matches_model)
{
	static const unsigned	 capacities[] = { 1, 2, 3, 5, 8, 13, 64 };
	unsigned		 capacity = capacities[_i];
	struct { int32_t key, value; } *model;
	size_t			 n = 0;
	uint32_t		 rng = 12345u + _i;
	struct calc_work	 w = { .num2 = 0, .op = CALC_ADD };
	struct calc_shared_struct found;
	int32_t			 result;

	model = calloc(capacity, sizeof *model);
	ck_assert_ptr_nonnull(model);
	ck_assert_int_eq(calc_log_init(capacity), 0);
	for (int step = 0; step < 20000; step++) {
		int32_t key;

		rng = rng * 1103515245u + 12345u;
		key = (int32_t)((rng >> 16) % (2 * capacity + 3)) - 2;
		if ((rng >> 8) & 1) {
			/* the model: oldest first, shifted out when full */
			if (n == capacity) {
				memmove(model, model + 1, (capacity - 1) * sizeof *model);
				n--;
			}
			model[n].key = key;
			model[n].value = step;
			n++;
			w.num1 = step;
			if (calc_calculate(key, &w, &result) != CALC_OK)
				ck_abort_msg("step %d: calculate failed", step);
			continue;
		}
		{
			size_t i = n;

			while (i > 0 && model[i - 1].key != key)
				i--;
			if (i == 0)
				ck_assert_msg(!calc_log_get(key, &found), "step %d: key %ld "
				    "logged", step, (long)key);
			else
				ck_assert_msg(logged_as(key, model[i - 1].value),
				    "step %d: key %ld not logged as %ld", step, (long)key,
				    (long)model[i - 1].value);
		}
	}
	free(model);
}
END_TEST

static Suite *
calc_suite(void)
{
	Suite	*s = suite_create("calc");
	TCase	*tc;

	tc = tcase_create("arithmetic");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, add_subtract_bounds);
	tcase_add_test(tc, calculate_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, log_empty_and_init);
	tcase_add_test(tc, log_newest_wins);
	tcase_add_test(tc, log_eviction);
	tcase_add_test(tc, log_key_reuse);
	tcase_add_test(tc, log_million);
	tcase_add_loop_test(tc, log_matches_model, 0, 7);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(calc_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
