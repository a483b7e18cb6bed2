/* SPDX-License-Identifier: MIT */
/*
 * A tiny unit-test harness. Each test file declares cases with TEST(name);
 * they register themselves before main() runs. CHECK(expr) records a failure
 * with file:line and the expression and lets the case go on, so one run
 * shows every broken row of a table.
 */
#ifndef ECR_UNIT_H
#define ECR_UNIT_H

#include <stdbool.h>
#include <stddef.h>

struct unit_case {
	const char *name;
	const char *file;
	void (*fn)(void);
	struct unit_case *next;
};

void unit_register(struct unit_case *c);
void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                                         \
	static void test_##name(void);                                                     \
	static struct unit_case unit_case_##name = { #name, __FILE__, test_##name, NULL }; \
	__attribute__((constructor)) static void unit_register_##name(void)                \
	{                                                                                  \
		unit_register(&unit_case_##name);                                          \
	}                                                                                  \
	static void test_##name(void)

#define CHECK(expr)                                                 \
	do {                                                        \
		if (!(expr))                                        \
			unit_fail(__FILE__, __LINE__, "%s", #expr); \
	} while (0)

#define CHECK_INT(a, b)                                                                           \
	do {                                                                                      \
		long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);                     \
		if (unit_a_ != unit_b_)                                                           \
			unit_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, unit_a_, \
				  unit_b_);                                                       \
	} while (0)

#define CHECK_STR(a, b)                                                                        \
	do {                                                                                   \
		const char *unit_a_ = (a), *unit_b_ = (b);                                     \
		if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0)                     \
			unit_fail(__FILE__, __LINE__, "%s == %s ('%s' != '%s')", #a, #b,       \
				  unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
	} while (0)

#endif
