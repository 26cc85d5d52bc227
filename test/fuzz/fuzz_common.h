/*-------------------------------------------------------------------------
 *
 * fuzz_common.h
 *		  Checks shared by the libFuzzer targets in test/fuzz.
 *
 * A failed check calls abort(), which libFuzzer reports as a crash and
 * saves the input that caused it, like any memory error ASan finds.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* postgres.h maps fprintf to libpgport's pg_fprintf, which is not linked */
#undef fprintf

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* Is s[0..len) well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF)? */
static inline int
fuzz_valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	while (p < end)
	{
		unsigned int c = *p;
		size_t		n;
		unsigned int cp;

		if (c < 0x80)
		{
			p++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if ((size_t) (end - p) <= n)
			return 0;
		for (size_t i = 1; i <= n; i++)
		{
			if ((p[i] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			(cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return 0;
		p += n + 1;
	}
	return 1;
}

/*
 * A message the code under test wrote into msg[msglen] for an ereport: it
 * must be NUL-terminated inside the buffer, non-empty, and valid UTF-8 (the
 * server's messages are in the database encoding; a truncation that splits
 * a character would send invalid bytes to the client).
 */
static inline void
fuzz_check_message(const char *msg, size_t msglen)
{
	const char *nul = memchr(msg, '\0', msglen);

	FUZZ_CHECK(nul != NULL);
	FUZZ_CHECK(nul > msg);
	FUZZ_CHECK(fuzz_valid_utf8(msg, nul - msg));
}

#endif							/* FUZZ_COMMON_H */
