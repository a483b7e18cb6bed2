/* SPDX-License-Identifier: MIT */
#include "names.h"

#include <ctype.h>
#include <string.h>

bool name_all(const char *s, size_t lo, size_t hi, const char *extra)
{
	size_t n = strlen(s);

	if (n < lo || n > hi)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool name_valid_repository(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > NAME_REPOSITORY_MAX)
		return false;
	for (const char *c = s; *c;) {
		if (!lower_alnum(*c))
			return false;
		while (lower_alnum(*c))
			c++;
		if (!*c)
			return true;
		if (*c == '/') {
			c++;
			continue;
		}
		if (*c == '.')
			c++;
		else if (*c == '_')
			c += c[1] == '_' ? 2 : 1;
		else if (*c == '-')
			while (*c == '-')
				c++;
		else
			return false;
	}
	return false;
}

bool name_valid_tag(const char *s)
{
	return (isalnum((unsigned char)s[0]) || s[0] == '_') && name_all(s, 1, NAME_TAG_MAX, "_.-");
}

bool name_valid_ecs(const char *s)
{
	return name_all(s, 1, NAME_ECS_MAX, "-_");
}
