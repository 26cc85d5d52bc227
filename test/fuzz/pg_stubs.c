/*-------------------------------------------------------------------------
 *
 * pg_stubs.c
 *		  malloc-based stand-ins for the few PostgreSQL symbols that the
 *		  fuzzed files (src/envelope.c, api.c, mime.c, story_check.c) use,
 *		  so that nothing of the backend is linked into the fuzz targets.
 *
 * Keep this list equal to what `nm -u` reports for those objects; the link
 * fails when a new one is needed.  A StringInfo here owns malloc'd memory:
 * the caller frees str->data.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "lib/stringinfo.h"

/* port.h maps these to pg_*; here we want the C library's own. */
#undef snprintf
#undef vsnprintf

static void *
xrealloc(void *p, size_t n)
{
	void	   *q = realloc(p, n);

	if (q == NULL)
		abort();
	return q;
}

int
pg_snprintf(char *str, size_t count, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(str, count, fmt, ap);
	va_end(ap);
	return n;
}

int
pg_strncasecmp(const char *s1, const char *s2, size_t n)
{
	return strncasecmp(s1, s2, n);
}

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = xrealloc(NULL, str->maxlen);
	str->len = 0;
	str->data[0] = '\0';
	str->cursor = 0;
}

static void
reserve(StringInfo str, size_t more)
{
	size_t		need = (size_t) str->len + more + 1;

	if (need > (size_t) str->maxlen)
	{
		while ((size_t) str->maxlen < need)
			str->maxlen *= 2;
		str->data = xrealloc(str->data, str->maxlen);
	}
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	size_t		n = strlen(s);

	reserve(str, n);
	memcpy(str->data + str->len, s, n + 1);
	str->len += n;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	reserve(str, n);
	va_start(ap, fmt);
	vsnprintf(str->data + str->len, n + 1, fmt, ap);
	va_end(ap);
	str->len += n;
}
