/*
 * test_metrics: the counters and their Prometheus text — sums over
 * several threads' blocks, histogram buckets (cumulative, +Inf equal to
 * _count, _sum in seconds), every label set, and the process_* metrics.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const method_names[] = { "add", "subtract", "unknown" };

/* The whole exposition of blocks, NUL-terminated (caller frees). */
static char *
render(struct metrics_block *const *blocks, unsigned count)
{
	struct metrics_view	 view = {
		.version = "9.8.7",
		.method_names = method_names,
		.method_count = 3,
		.blocks = (const struct metrics_block *const *)blocks,
		.block_count = count,
		.connections_open = 5,
		.max_connections = 1024,
	};
	struct buf		 out;
	char			*text;

	buf_init(&out, 1 << 20);
	ck_assert_int_eq(metrics_format(&view, &out), 0);
	text = malloc(out.len + 1);
	ck_assert_ptr_nonnull(text);
	memcpy(text, out.data, out.len);
	text[out.len] = '\0';
	buf_free(&out);
	return text;
}

/* The value on the line that starts with exactly `series ` (a whole line). */
static const char *
value_of(const char *text, const char *series)
{
	static char	value[64];
	size_t		len = strlen(series);

	for (const char *line = text; *line != '\0';) {
		const char *end = strchr(line, '\n');

		ck_assert_ptr_nonnull(end);
		if ((size_t)(end - line) > len && strncmp(line, series, len) == 0 &&
		    line[len] == ' ') {
			size_t n = (size_t)(end - line) - len - 1;

			ck_assert_uint_lt(n, sizeof value);
			memcpy(value, line + len + 1, n);
			value[n] = '\0';
			return value;
		}
		line = end + 1;
	}
	ck_abort_msg("no series %s in:\n%s", series, text);
	return NULL;
}

START_TEST(test_calls_summed_over_blocks)
{
	struct metrics_block	*b[2] = { calloc(1, sizeof **b), calloc(1, sizeof **b) };
	char			*text;

	metrics_count_call(b[0], 0, METRICS_OK, 1500);
	metrics_count_call(b[1], 0, METRICS_OK, 900);
	metrics_count_call(b[1], 0, METRICS_ERROR, 3000000);
	metrics_count_call(b[0], 1, METRICS_EXCEPTION, 7000);
	metrics_count_call(b[0], 2, METRICS_ERROR, 100);
	text = render(b, 2);
	ck_assert_str_eq(value_of(text, "calcd_calls_total{method=\"add\",outcome=\"ok\"}"), "2");
	ck_assert_str_eq(value_of(text, "calcd_calls_total{method=\"add\",outcome=\"error\"}"),
	    "1");
	ck_assert_str_eq(value_of(text,
	    "calcd_calls_total{method=\"add\",outcome=\"exception\"}"), "0");
	ck_assert_str_eq(value_of(text,
	    "calcd_calls_total{method=\"subtract\",outcome=\"exception\"}"), "1");
	ck_assert_str_eq(value_of(text,
	    "calcd_calls_total{method=\"unknown\",outcome=\"error\"}"), "1");
	free(text);
	free(b[0]);
	free(b[1]);
}
END_TEST

START_TEST(test_histogram)
{
	struct metrics_block	*b = calloc(1, sizeof *b);
	char			*text;

	metrics_count_call(b, 0, METRICS_OK, 1000);		/* exactly 1 µs: le="0.000001" */
	metrics_count_call(b, 0, METRICS_OK, 1001);		/* just over: 2.5 µs */
	metrics_count_call(b, 0, METRICS_OK, 40000);		/* 50 µs */
	metrics_count_call(b, 0, METRICS_OK, 5000000000u);	/* 5 s: only +Inf */
	text = render(&b, 1);
	ck_assert_str_eq(value_of(text,
	    "calcd_call_duration_seconds_bucket{method=\"add\",le=\"0.000001000\"}"), "1");
	ck_assert_str_eq(value_of(text,
	    "calcd_call_duration_seconds_bucket{method=\"add\",le=\"0.000002500\"}"), "2");
	ck_assert_str_eq(value_of(text,
	    "calcd_call_duration_seconds_bucket{method=\"add\",le=\"0.000025000\"}"), "2");
	ck_assert_str_eq(value_of(text,
	    "calcd_call_duration_seconds_bucket{method=\"add\",le=\"0.000050000\"}"), "3");
	ck_assert_str_eq(value_of(text,
	    "calcd_call_duration_seconds_bucket{method=\"add\",le=\"1.000000000\"}"), "3");
	ck_assert_str_eq(value_of(text,
	    "calcd_call_duration_seconds_bucket{method=\"add\",le=\"+Inf\"}"), "4");
	ck_assert_str_eq(value_of(text, "calcd_call_duration_seconds_count{method=\"add\"}"),
	    "4");
	ck_assert_str_eq(value_of(text, "calcd_call_duration_seconds_sum{method=\"add\"}"),
	    "5.000042001");
	ck_assert_str_eq(value_of(text,
	    "calcd_call_duration_seconds_bucket{method=\"subtract\",le=\"+Inf\"}"), "0");
	free(text);
	free(b);
}
END_TEST

START_TEST(test_connections_and_traffic)
{
	struct metrics_block	*b = calloc(1, sizeof *b);
	char			*text;

	metrics_add(&b->requests[METRICS_HEADER][METRICS_COMPACT], 3);
	metrics_add(&b->requests[METRICS_BUFFERED][METRICS_BINARY], 1);
	metrics_add(&b->accepted, 9);
	metrics_add(&b->closed[METRICS_CLOSE_SHED], 2);
	metrics_add(&b->closed[METRICS_CLOSE_CLIENT], 2);
	metrics_add(&b->bytes_received, 123);
	metrics_add(&b->bytes_sent, 45);
	metrics_add(&b->reloads_ok, 1);
	metrics_add(&b->reloads_failed, 2);
	metrics_add(&b->metrics_refused, 7);
	text = render(&b, 1);
	ck_assert_str_eq(value_of(text,
	    "calcd_requests_total{transport=\"header\",protocol=\"compact\"}"), "3");
	ck_assert_str_eq(value_of(text,
	    "calcd_requests_total{transport=\"buffered\",protocol=\"binary\"}"), "1");
	ck_assert_str_eq(value_of(text,
	    "calcd_requests_total{transport=\"framed\",protocol=\"binary\"}"), "0");
	ck_assert_str_eq(value_of(text, "calcd_connections_open"), "5");
	ck_assert_str_eq(value_of(text, "calcd_connections_max"), "1024");
	ck_assert_str_eq(value_of(text, "calcd_connections_accepted_total"), "9");
	ck_assert_str_eq(value_of(text, "calcd_connections_closed_total{reason=\"shed\"}"), "2");
	ck_assert_str_eq(value_of(text, "calcd_connections_closed_total{reason=\"client\"}"),
	    "2");
	ck_assert_str_eq(value_of(text,
	    "calcd_connections_closed_total{reason=\"idle_timeout\"}"), "0");
	ck_assert_str_eq(value_of(text, "calcd_bytes_received_total"), "123");
	ck_assert_str_eq(value_of(text, "calcd_bytes_sent_total"), "45");
	ck_assert_str_eq(value_of(text, "calcd_config_reloads_total{result=\"success\"}"), "1");
	ck_assert_str_eq(value_of(text, "calcd_config_reloads_total{result=\"failure\"}"), "2");
	ck_assert_str_eq(value_of(text, "calcd_metrics_connections_refused_total"), "7");
	ck_assert_str_eq(value_of(text, "calcd_build_info{version=\"9.8.7\"}"), "1");
	free(text);
	free(b);
}
END_TEST

START_TEST(test_process_metrics)
{
	struct metrics_block	*b = calloc(1, sizeof *b);
	char			*text;

	text = render(&b, 1);
	ck_assert_int_gt(atoi(value_of(text, "process_open_fds")), 2);
	ck_assert_int_gt(atoi(value_of(text, "process_max_fds")), 2);
	ck_assert_int_gt(atoll(value_of(text, "process_resident_memory_bytes")), 4096);
	ck_assert_int_gt(atoll(value_of(text, "process_start_time_seconds")), 1500000000);
	(void)value_of(text, "process_cpu_seconds_total");
	/* Every metric has its HELP and TYPE, once. */
	ck_assert_ptr_nonnull(strstr(text, "# TYPE calcd_call_duration_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE process_open_fds gauge\n"));
	ck_assert_ptr_null(strstr(strstr(text, "# TYPE calcd_calls_total") + 1,
	    "# TYPE calcd_calls_total"));
	free(text);
	free(b);
}
END_TEST

/* A full output buffer fails cleanly and leaves the buffer as it was. */
START_TEST(test_output_limit)
{
	struct metrics_block	*b = calloc(1, sizeof *b);
	struct metrics_block	*blocks[1] = { b };
	struct metrics_view	 view = {
		.version = "1", .method_names = method_names, .method_count = 3,
		.blocks = (const struct metrics_block *const *)blocks, .block_count = 1,
	};
	struct buf		 out;

	buf_init(&out, 512);
	ck_assert_int_eq(buf_append(&out, "x", 1), 0);
	ck_assert_int_eq(metrics_format(&view, &out), -1);
	ck_assert_uint_eq(out.len, 1);
	buf_free(&out);
	free(b);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("format");

	tcase_add_test(tc, test_calls_summed_over_blocks);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_connections_and_traffic);
	tcase_add_test(tc, test_process_metrics);
	tcase_add_test(tc, test_output_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(metrics_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
