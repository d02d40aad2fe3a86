/*
 * calc: the CalculatorService handlers as plain functions over integers,
 * and the bounded calculation log behind getStruct.  Knows nothing of
 * the wire; every result is checked for i32 overflow.
 */
#ifndef CALCD_CALC_H
#define CALCD_CALC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum calc_operation {
	CALC_ADD	= 1,
	CALC_SUBTRACT	= 2,
	CALC_MULTIPLY	= 3,
	CALC_DIVIDE	= 4,
};

enum calc_status {
	CALC_OK = 0,
	CALC_OVERFLOW,		/* the result does not fit in an i32 */
	CALC_DIVIDE_BY_ZERO,
	CALC_INVALID_OPERATION,	/* op is not one of enum calc_operation */
};

struct calc_work {
	int32_t	num1;
	int32_t	num2;
	int32_t	op;
};

/* Decimal text of an i32: "-2147483648" is the longest. */
#define CALC_VALUE_LEN	12

/* The IDL's SharedStruct: a logged calculation, its logid and result as text. */
struct calc_shared_struct {
	int32_t	key;
	char	value[CALC_VALUE_LEN];
};

/* An exact result as an i32, if it fits. */
static inline enum calc_status
calc_fit_i32(int64_t exact, int32_t *result)
{
	if (exact < INT32_MIN || exact > INT32_MAX)
		return CALC_OVERFLOW;
	*result = (int32_t)exact;
	return CALC_OK;
}

/*
 * Inline: a call's worth of work for one instruction of arithmetic and
 * the overflow flag (the builtins compute the exact result, no UB).
 * On CALC_OVERFLOW, *result is not the answer and must not be used.
 */
static inline enum calc_status
calc_add(int32_t a, int32_t b, int32_t *result)
{
	return __builtin_add_overflow(a, b, result) ? CALC_OVERFLOW : CALC_OK;
}

static inline enum calc_status
calc_subtract(int32_t a, int32_t b, int32_t *result)
{
	return __builtin_sub_overflow(a, b, result) ? CALC_OVERFLOW : CALC_OK;
}

/* Work out w; on CALC_OK also log {logid, result} for getStruct. */
enum calc_status calc_calculate(int32_t logid, const struct calc_work *w, int32_t *result);
const char	*calc_status_text(enum calc_status);

/*
 * The calculation log: shared by all workers, the last `capacity`
 * calculations; older ones are forgotten.  Both calls take constant time.
 */
int	calc_log_init(unsigned capacity);
void	calc_log_free(void);
/* The newest entry logged with key; false if there is none. */
bool	calc_log_get(int32_t key, struct calc_shared_struct *out);

#endif
