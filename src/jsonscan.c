/*-------------------------------------------------------------------------
 *
 * jsonscan.c
 *		  A validating single-pass JSON tokenizer for API list responses.
 *
 * List pages are the hot path: a 500-page listing is 13 MB of JSON, and a
 * DOM parser spends most of a scan building and freeing nodes the query
 * never looks at.  This scanner checks the whole text against the JSON
 * grammar (including UTF-8 and escapes) in one pass and records a flat
 * array of tokens with byte spans and skip pointers.  Values are decoded
 * only when a column asks for them; objects and arrays are handed to
 * json/jsonb columns as the text they already are.
 *
 * Pure C with malloc, no PostgreSQL calls: the fuzz target drives it.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <stdio.h>

#define CD_JSON_MAX_DEPTH 512

typedef struct Scanner
{
	const unsigned char *s;
	size_t		len;
	size_t		pos;
	CdJsonDoc  *doc;
	char	   *msg;
	size_t		msglen;
} Scanner;

static bool
fail(Scanner *sc, const char *what)
{
	snprintf(sc->msg, sc->msglen, "%s at byte %zu", what, sc->pos);
	return false;
}

static void
skip_ws(Scanner *sc)
{
	while (sc->pos < sc->len)
	{
		unsigned char c = sc->s[sc->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
}

/* Append a token; -1 if out of memory. */
static int
new_token(Scanner *sc, CdJsonType type, size_t start)
{
	CdJsonDoc  *doc = sc->doc;
	CdJsonTok  *tok;

	if (doc->ntoks == doc->captoks)
	{
		int			cap = doc->captoks ? doc->captoks * 2 : 256;
		CdJsonTok  *grown = realloc(doc->toks, sizeof(CdJsonTok) * cap);

		if (grown == NULL)
			return -1;
		doc->toks = grown;
		doc->captoks = cap;
	}
	tok = &doc->toks[doc->ntoks];
	memset(tok, 0, sizeof(*tok));
	tok->type = type;
	tok->start = start;
	return doc->ntoks++;
}

/* Length of a valid UTF-8 sequence at p (n bytes left), or 0. */
static int
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	int			len;
	unsigned int cp;

	if (c < 0xC2 || c > 0xF4)
		return 0;
	len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	if ((size_t) len > n)
		return 0;
	cp = c & (0x3F >> (len - 1));
	for (int i = 1; i < len; i++)
	{
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

static int
hex4(const unsigned char *p)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		int			c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A \u escape at p (after the backslash); bytes consumed, or 0 if bad. */
static size_t
check_u_escape(const unsigned char *p, size_t n)
{
	int			hi;
	int			lo;

	if (n < 5 || (hi = hex4(p + 1)) < 0)
		return 0;
	if (hi < 0xD800 || hi > 0xDFFF)
		return 5;
	if (hi > 0xDBFF || n < 11 || p[5] != '\\' || p[6] != 'u' ||
		(lo = hex4(p + 7)) < 0xDC00 || lo > 0xDFFF)
		return 0;
	return 11;
}

/* Bytes that need a closer look inside a string: controls, '"', '\\', non-ASCII. */
static inline bool
string_special(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

#define ONES UINT64CONST(0x0101010101010101)
#define HIGHS UINT64CONST(0x8080808080808080)

/* Does any byte of v need a look: < 0x20, '"', '\\', or >= 0x80? */
static inline bool
has_special_byte(uint64 v)
{
	uint64		quote = v ^ (ONES * '"');
	uint64		backslash = v ^ (ONES * '\\');
	uint64		below_space = (v - ONES * 0x20) & ~v;
	uint64		zero_quote = (quote - ONES) & ~quote;
	uint64		zero_backslash = (backslash - ONES) & ~backslash;

	return ((below_space | zero_quote | zero_backslash | v) & HIGHS) != 0;
}

/* The rest of a string after an escape or a non-ASCII byte at pos. */
static bool
scan_string_special(Scanner *sc, int t)
{
	unsigned char c = sc->s[sc->pos];

	if (c < 0x20)
		return fail(sc, "control character in string");
	if (c == '\\')
	{
		size_t		n = 2;

		sc->doc->toks[t].escaped = true;
		if (sc->pos + 1 >= sc->len)
			return fail(sc, "unterminated string");
		c = sc->s[sc->pos + 1];
		if (c == 'u')
			n = 1 + check_u_escape(sc->s + sc->pos + 1, sc->len - sc->pos - 1);
		else if (c == '\0' || !strchr("\"\\/bfnrt", c))
			n = 1;
		if (n == 1)
			return fail(sc, "invalid escape in string");
		sc->pos += n;
	}
	else
	{
		int			n = utf8_seq(sc->s + sc->pos, sc->len - sc->pos);

		if (n == 0)
			return fail(sc, "invalid UTF-8 in string");
		sc->pos += n;
	}
	return true;
}

static bool
scan_string(Scanner *sc)
{
	int			t = new_token(sc, CD_JSON_STRING, sc->pos + 1);
	const unsigned char *s = sc->s;
	size_t		len = sc->len;
	size_t		pos = sc->pos + 1;	/* after the opening quote */

	if (t < 0)
		return fail(sc, "out of memory");
	for (;;)
	{
		/* eight plain bytes at a time while no byte needs a look */
		while (pos + 8 <= len)
		{
			uint64		v;

			memcpy(&v, s + pos, 8);
			if (has_special_byte(v))
				break;
			pos += 8;
		}
		while (pos < len && !string_special(s[pos]))
			pos++;
		if (pos >= len)
		{
			sc->pos = pos;
			return fail(sc, "unterminated string");
		}
		if (s[pos] == '"')
			break;
		sc->pos = pos;
		if (!scan_string_special(sc, t))
			return false;
		pos = sc->pos;
	}
	sc->doc->toks[t].end = pos;
	sc->doc->toks[t].next = t + 1;
	sc->pos = pos + 1;
	return true;
}

static bool
scan_digits(Scanner *sc)
{
	size_t		start = sc->pos;

	while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
		sc->pos++;
	return sc->pos > start;
}

static bool
scan_number(Scanner *sc)
{
	int			t = new_token(sc, CD_JSON_NUMBER, sc->pos);

	if (t < 0)
		return fail(sc, "out of memory");
	if (sc->s[sc->pos] == '-')
		sc->pos++;
	if (sc->pos < sc->len && sc->s[sc->pos] == '0')
		sc->pos++;
	else if (!scan_digits(sc))
		return fail(sc, "invalid number");
	if (sc->pos < sc->len && sc->s[sc->pos] == '.')
	{
		sc->pos++;
		if (!scan_digits(sc))
			return fail(sc, "invalid number");
	}
	if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E'))
	{
		sc->pos++;
		if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
			sc->pos++;
		if (!scan_digits(sc))
			return fail(sc, "invalid number");
	}
	sc->doc->toks[t].end = sc->pos;
	sc->doc->toks[t].next = t + 1;
	return true;
}

static bool
scan_literal(Scanner *sc, const char *word, CdJsonType type)
{
	size_t		n = strlen(word);
	int			t;

	if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
		return fail(sc, "invalid literal");
	if ((t = new_token(sc, type, sc->pos)) < 0)
		return fail(sc, "out of memory");
	sc->pos += n;
	sc->doc->toks[t].end = sc->pos;
	sc->doc->toks[t].next = t + 1;
	return true;
}

static bool scan_value(Scanner *sc, int depth);

/* An object or array; members are scanned recursively up to the depth cap. */
static bool
scan_container(Scanner *sc, int depth)
{
	bool		is_object = sc->s[sc->pos] == '{';
	char		close = is_object ? '}' : ']';
	int			t = new_token(sc, is_object ? CD_JSON_OBJECT : CD_JSON_ARRAY, sc->pos);

	if (t < 0)
		return fail(sc, "out of memory");
	if (depth >= CD_JSON_MAX_DEPTH)
		return fail(sc, "nesting too deep");
	sc->pos++;
	skip_ws(sc);
	if (sc->pos < sc->len && sc->s[sc->pos] == close)
		goto done;
	for (;;)
	{
		if (is_object)
		{
			if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
				return fail(sc, "expected a string key");
			if (!scan_string(sc))
				return false;
			skip_ws(sc);
			if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
				return fail(sc, "expected ':'");
			sc->pos++;
		}
		if (!scan_value(sc, depth + 1))
			return false;
		sc->doc->toks[t].size++;
		skip_ws(sc);
		if (sc->pos < sc->len && sc->s[sc->pos] == ',')
		{
			sc->pos++;
			skip_ws(sc);
			continue;
		}
		if (sc->pos < sc->len && sc->s[sc->pos] == close)
			break;
		return fail(sc, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
done:
	sc->pos++;
	sc->doc->toks[t].end = sc->pos;
	sc->doc->toks[t].next = sc->doc->ntoks;
	return true;
}

static bool
scan_value(Scanner *sc, int depth)
{
	skip_ws(sc);
	if (sc->pos >= sc->len)
		return fail(sc, "unexpected end of input");
	switch (sc->s[sc->pos])
	{
		case '{':
		case '[':
			return scan_container(sc, depth);
		case '"':
			return scan_string(sc);
		case 't':
			return scan_literal(sc, "true", CD_JSON_TRUE);
		case 'f':
			return scan_literal(sc, "false", CD_JSON_FALSE);
		case 'n':
			return scan_literal(sc, "null", CD_JSON_NULL);
		default:
			if (sc->s[sc->pos] == '-' ||
				(sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9'))
				return scan_number(sc);
			return fail(sc, "unexpected character");
	}
}

/*
 * Tokenize text (not copied: it must outlive doc).  On failure doc holds
 * nothing and msg says what is wrong and where.
 */
bool
cd_json_scan(const char *text, size_t len, CdJsonDoc *doc, char *msg, size_t msglen)
{
	Scanner		sc = {(const unsigned char *) text, len, 0, doc, msg, msglen};

	memset(doc, 0, sizeof(*doc));
	doc->text = text;
	if (!scan_value(&sc, 0))
	{
		cd_json_free(doc);
		return false;
	}
	skip_ws(&sc);
	if (sc.pos != len)
	{
		fail(&sc, "trailing characters after the JSON value");
		cd_json_free(doc);
		return false;
	}
	return true;
}

void
cd_json_free(CdJsonDoc *doc)
{
	free(doc->toks);
	doc->toks = NULL;
	doc->ntoks = doc->captoks = 0;
}

/* Does string token t equal key? */
static bool
key_equals(const CdJsonDoc *doc, int t, const char *key)
{
	const CdJsonTok *tok = &doc->toks[t];
	size_t		n = tok->end - tok->start;
	char		small[128];
	char	   *buf = small;
	bool		equal;

	if (!tok->escaped)
		return strlen(key) == n && memcmp(doc->text + tok->start, key, n) == 0;
	if (n >= sizeof(small) && (buf = malloc(n + 1)) == NULL)
		return false;
	equal = cd_json_unescape(doc, t, buf) >= 0 && strcmp(buf, key) == 0;
	if (buf != small)
		free(buf);
	return equal;
}

/*
 * The value token of key in object token obj, or -1.  The first of
 * duplicate keys wins.
 */
int
cd_json_get(const CdJsonDoc *doc, int obj, const char *key)
{
	int			t;

	if (obj < 0 || doc->toks[obj].type != CD_JSON_OBJECT)
		return -1;
	t = obj + 1;
	for (uint32 i = 0; i < doc->toks[obj].size; i++)
	{
		if (key_equals(doc, t, key))
			return t + 1;
		t = doc->toks[t + 1].next;
	}
	return -1;
}

/* Follow a NULL-terminated list of keys from token t; -1 if missing. */
int
cd_json_path_tok(const CdJsonDoc *doc, int t, const char *const *path)
{
	for (int i = 0; path[i] && t >= 0; i++)
		t = cd_json_get(doc, t, path[i]);
	return t;
}

static void
put_utf8(char **out, unsigned int cp)
{
	unsigned char *o = (unsigned char *) *out;

	if (cp < 0x80)
		*o++ = cp;
	else if (cp < 0x800)
	{
		*o++ = 0xC0 | (cp >> 6);
		*o++ = 0x80 | (cp & 0x3F);
	}
	else if (cp < 0x10000)
	{
		*o++ = 0xE0 | (cp >> 12);
		*o++ = 0x80 | ((cp >> 6) & 0x3F);
		*o++ = 0x80 | (cp & 0x3F);
	}
	else
	{
		*o++ = 0xF0 | (cp >> 18);
		*o++ = 0x80 | ((cp >> 12) & 0x3F);
		*o++ = 0x80 | ((cp >> 6) & 0x3F);
		*o++ = 0x80 | (cp & 0x3F);
	}
	*out = (char *) o;
}

/*
 * Decode string token t into dst, which has room for the token's raw
 * length plus one, and NUL-terminate it.  Returns the decoded length, or
 * -1 if the string holds \u0000, which no C string can.
 */
long
cd_json_unescape(const CdJsonDoc *doc, int t, char *dst)
{
	const char *p = doc->text + doc->toks[t].start;
	const char *end = doc->text + doc->toks[t].end;
	char	   *o = dst;

	while (p < end)
	{
		unsigned int cp;

		if (*p != '\\')
		{
			*o++ = *p++;
			continue;
		}
		switch (p[1])
		{
			case 'b': *o++ = '\b'; p += 2; continue;
			case 'f': *o++ = '\f'; p += 2; continue;
			case 'n': *o++ = '\n'; p += 2; continue;
			case 'r': *o++ = '\r'; p += 2; continue;
			case 't': *o++ = '\t'; p += 2; continue;
			case 'u': break;
			default: *o++ = p[1]; p += 2; continue;
		}
		cp = hex4((const unsigned char *) p + 2);
		p += 6;
		if (cp >= 0xD800 && cp <= 0xDBFF)
		{
			cp = 0x10000 + ((cp - 0xD800) << 10) +
				(hex4((const unsigned char *) p + 2) - 0xDC00);
			p += 6;
		}
		if (cp == 0)
			return -1;
		put_utf8(&o, cp);
	}
	*o = '\0';
	return o - dst;
}

/*
 * String token t decoded into a malloc'd C string; NULL if t is not a
 * string, holds \u0000, or memory ran out.
 */
char *
cd_json_strdup(const CdJsonDoc *doc, int t)
{
	char	   *dst;

	if (t < 0 || doc->toks[t].type != CD_JSON_STRING)
		return NULL;
	dst = malloc(doc->toks[t].end - doc->toks[t].start + 1);
	if (dst && cd_json_unescape(doc, t, dst) < 0)
	{
		free(dst);
		dst = NULL;
	}
	return dst;
}
