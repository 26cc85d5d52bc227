/*-------------------------------------------------------------------------
 *
 * fuzz_envelope.c
 *		  libFuzzer target: an API's list response, as the scan reads it.
 *
 * Each input is read as a response of every API in cd_apis[]: the envelope
 * (src/envelope.c over the tokenizer src/jsonscan.c), then every row and
 * field the way src/json_row.c turns them into column text, the warnings
 * the way src/fetch.c logs them, and the body as an error the way
 * src/http.c reads it (cd_api_error_code and api->error_detail, src/api.c).
 *
 * jansson is the reference: the tokenizer must accept exactly the texts
 * jansson accepts (but for the documented limits), decode every string to
 * the same bytes, and find the same value for every key.
 *
 * Built and run by test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <stdint.h>

#include "fuzz_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const CdJsonTok *
tok(const CdJsonDoc *doc, int t)
{
	FUZZ_CHECK(t >= 0 && t < doc->ntoks);
	return &doc->toks[t];
}

/*
 * String token t decoded, as cd_json_text() does it (a buffer of the raw
 * length plus one); NULL for \u0000.  Caller frees.
 */
static char *
decode(const CdJsonDoc *doc, int t, long *len)
{
	const CdJsonTok *k = tok(doc, t);
	size_t		raw = k->end - k->start;
	char	   *dst = malloc(raw + 1);

	FUZZ_CHECK(dst != NULL);
	*len = cd_json_unescape(doc, t, dst);
	if (*len < 0)
	{
		free(dst);
		return NULL;
	}
	FUZZ_CHECK((size_t) *len <= raw);
	FUZZ_CHECK(strlen(dst) == (size_t) *len);
	FUZZ_CHECK(fuzz_valid_utf8(dst, *len));
	return dst;
}

/*
 * json_row.c's raw_json(): a token's text as it stands, which json/jsonb
 * columns and number columns get.  It must hold no NUL (the code uses
 * strlen), be valid UTF-8, and be JSON of the same kind.
 */
static void
check_raw(const CdJsonDoc *doc, int t)
{
	const CdJsonTok *k = tok(doc, t);
	size_t		from = k->type == CD_JSON_STRING ? k->start - 1 : k->start;
	size_t		to = k->type == CD_JSON_STRING ? k->end + 1 : k->end;
	const char *raw = doc->text + from;

	FUZZ_CHECK(from < to);
	FUZZ_CHECK(memchr(raw, '\0', to - from) == NULL);
	FUZZ_CHECK(fuzz_valid_utf8(raw, to - from));
	if (k->type == CD_JSON_STRING)
		FUZZ_CHECK(raw[0] == '"' && raw[to - from - 1] == '"');
	else if (k->type == CD_JSON_OBJECT)
		FUZZ_CHECK(raw[0] == '{' && raw[to - from - 1] == '}');
	else if (k->type == CD_JSON_ARRAY)
		FUZZ_CHECK(raw[0] == '[' && raw[to - from - 1] == ']');
}

/* What json_row.c's value_text() does with token t, minus the conversion. */
static void
value_text(const CdJsonDoc *doc, int t, bool as_json)
{
	long		len;

	if (t < 0 || tok(doc, t)->type == CD_JSON_NULL)
		return;
	if (tok(doc, t)->type == CD_JSON_STRING && !as_json)
		free(decode(doc, t, &len));
	else
		check_raw(doc, t);
}

/* A row: the object (attrs), its id (messages), each field as text and json. */
static void
read_row(const CdJsonDoc *doc, int obj)
{
	int			t = obj + 1;
	long		len;

	FUZZ_CHECK(tok(doc, obj)->type == CD_JSON_OBJECT);
	value_text(doc, obj, true);
	if (cd_json_get(doc, obj, "id") >= 0)
		value_text(doc, cd_json_get(doc, obj, "id"), false);
	for (uint32 i = 0; i < tok(doc, obj)->size; i++)
	{
		FUZZ_CHECK(tok(doc, t)->type == CD_JSON_STRING);
		free(decode(doc, t, &len));
		value_text(doc, t + 1, false);
		value_text(doc, t + 1, true);
		t = tok(doc, t + 1)->next;
	}
	FUZZ_CHECK(t == tok(doc, obj)->next);
}

/* fetch.c's log_warnings(): each warning's "message", if a string. */
static void
read_warnings(const CdJsonDoc *doc, int warnings)
{
	int			t;

	if (warnings < 0)
		return;
	FUZZ_CHECK(tok(doc, warnings)->type == CD_JSON_ARRAY);
	t = warnings + 1;
	for (uint32 i = 0; i < tok(doc, warnings)->size; i++)
	{
		free(cd_json_strdup(doc, cd_json_get(doc, t, "message")));
		t = tok(doc, t)->next;
	}
}

/*
 * An error body: the API's error code (cd_api_error_code, which http.c
 * uses to choose retries) and, as http.c's append_api_detail() does, the
 * API's words for an error's detail.
 */
static void
read_error_body(const CdApi *api, const char *data, size_t size)
{
	json_t	   *body = json_loadb(data, size, 0, NULL);
	char	   *code = cd_api_error_code(api, data, size);
	StringInfoData detail;

	if (code)
		FUZZ_CHECK(fuzz_valid_utf8(code, strlen(code)));
	free(code);

	if (json_is_object(body))
	{
		initStringInfo(&detail);
		api->error_detail(body, &detail);
		FUZZ_CHECK((size_t) detail.len == strlen(detail.data));
		FUZZ_CHECK(fuzz_valid_utf8(detail.data, detail.len));
		free(detail.data);
	}
	json_decref(body);
}

static void
read_response(const CdApi *api, const char *data, size_t size)
{
	CdEnvelope	env;
	char		msg[256];

	memset(msg, 0x7f, sizeof(msg));
	if (cd_envelope_parse(api, data, size, &env, msg, sizeof(msg)) != CD_ENV_OK)
	{
		FUZZ_CHECK(env.doc.toks == NULL && env.rows == NULL && env.next == NULL);
		fuzz_check_message(msg, sizeof(msg));
		read_error_body(api, data, size);
		return;
	}
	if (env.next)
		FUZZ_CHECK(env.next[0] != '\0' && fuzz_valid_utf8(env.next, strlen(env.next)));
	for (size_t i = 0; i < env.nrows; i++)
	{
		int			row = cd_envelope_row(&env, i);

		FUZZ_CHECK(env.rows[i] > 0 && env.rows[i] < env.doc.ntoks);
		if (i > 0)
			FUZZ_CHECK(env.rows[i] == tok(&env.doc, env.rows[i - 1])->next);
		if (row >= 0)
			read_row(&env.doc, row);
	}
	read_warnings(&env.doc, env.warnings);
	cd_envelope_free(&env);
}

/* ---- the tokenizer against jansson ---- */

static void compare(const CdJsonDoc *doc, int t, json_t *ref);


typedef struct Key
{
	char	   *s;				/* decoded; NULL if it holds \u0000 */
	long		len;
	int			value;			/* the member's value token */
} Key;

static bool
same_key(const Key *a, const Key *b)
{
	return a->s && b->s && a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

/*
 * Members against jansson's object: every decodable key is there; a key
 * that occurs once has the same value; cd_json_get finds the first of
 * duplicate keys (jansson keeps the last); as many distinct keys.
 */
static void
compare_object(const CdJsonDoc *doc, int obj, json_t *ref)
{
	uint32		n = tok(doc, obj)->size;
	Key		   *keys = calloc(n + 1, sizeof(Key));
	size_t		distinct = 0;
	bool		all_decoded = true;
	int			t = obj + 1;

	FUZZ_CHECK(keys != NULL);
	for (uint32 i = 0; i < n; i++)
	{
		FUZZ_CHECK(tok(doc, t)->type == CD_JSON_STRING);
		keys[i].s = decode(doc, t, &keys[i].len);
		keys[i].value = t + 1;
		all_decoded &= (keys[i].s != NULL);
		t = tok(doc, t + 1)->next;
	}
	FUZZ_CHECK(t == tok(doc, obj)->next);

	for (uint32 i = 0; i < n; i++)
	{
		int			before = 0;
		int			after = 0;
		json_t	   *value;

		if (keys[i].s == NULL)
			continue;
		for (uint32 j = 0; j < n; j++)
		{
			before += (j < i && same_key(&keys[i], &keys[j]));
			after += (j > i && same_key(&keys[i], &keys[j]));
		}
		value = json_object_getn(ref, keys[i].s, keys[i].len);
		FUZZ_CHECK(value != NULL);
		if (before == 0)
		{
			distinct++;
			if (cd_json_get(doc, obj, keys[i].s) != keys[i].value)
			{
				fprintf(stderr, "cd_json_get does not find key \"%s\" (%ld bytes, %u in the text)\n",
						keys[i].s, keys[i].len,
						tok(doc, keys[i].value - 1)->end - tok(doc, keys[i].value - 1)->start);
				FUZZ_CHECK(!"cd_json_get misses a key");
			}
		}
		if (before == 0 && after == 0)
			compare(doc, keys[i].value, value);
	}
	if (all_decoded)
		FUZZ_CHECK(distinct == json_object_size(ref));
	for (uint32 i = 0; i < n; i++)
		free(keys[i].s);
	free(keys);
}

static void
compare(const CdJsonDoc *doc, int t, json_t *ref)
{
	const CdJsonTok *k = tok(doc, t);
	long		len;
	char	   *s;
	int			e;

	FUZZ_CHECK(k->start <= k->end);
	switch (k->type)
	{
		case CD_JSON_OBJECT:
			FUZZ_CHECK(json_is_object(ref));
			compare_object(doc, t, ref);
			break;
		case CD_JSON_ARRAY:
			FUZZ_CHECK(json_is_array(ref));
			FUZZ_CHECK(k->size == json_array_size(ref));
			e = t + 1;
			for (uint32 i = 0; i < k->size; i++)
			{
				compare(doc, e, json_array_get(ref, i));
				e = tok(doc, e)->next;
			}
			FUZZ_CHECK(e == k->next);
			break;
		case CD_JSON_STRING:
			FUZZ_CHECK(json_is_string(ref));
			FUZZ_CHECK(k->next == t + 1);
			s = decode(doc, t, &len);
			if (s == NULL)
				FUZZ_CHECK(memchr(json_string_value(ref), '\0', json_string_length(ref)));
			else
				FUZZ_CHECK((size_t) len == json_string_length(ref) &&
						   memcmp(s, json_string_value(ref), len) == 0);
			free(s);
			break;
		case CD_JSON_NUMBER:
			FUZZ_CHECK(json_is_number(ref));
			break;
		case CD_JSON_TRUE:
			FUZZ_CHECK(json_is_true(ref));
			break;
		case CD_JSON_FALSE:
			FUZZ_CHECK(json_is_false(ref));
			break;
		case CD_JSON_NULL:
			FUZZ_CHECK(json_is_null(ref));
			break;
		default:
			FUZZ_CHECK(!"unknown token type");
	}
}

static void
scan_like_jansson(const char *data, size_t size)
{
	CdJsonDoc	doc;
	char		msg[256];
	json_error_t jerr;
	json_t	   *ref;
	bool		ok;

	memset(msg, 0x7f, sizeof(msg));
	ok = cd_json_scan(data, size, &doc, msg, sizeof(msg));
	if (memchr(data, '\0', size) != NULL)
	{
		/*
		 * A raw NUL is never JSON.  (jansson takes one after a number for
		 * the end of the text, so it is no reference here.)
		 */
		FUZZ_CHECK(!ok);
		fuzz_check_message(msg, sizeof(msg));
		return;
	}
	ref = json_loadb(data, size,
					 JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
					 &jerr);
	if (!ok)
	{
		fuzz_check_message(msg, sizeof(msg));
		FUZZ_CHECK(doc.toks == NULL);
		/* jansson nests deeper than the tokenizer's documented limit */
		if (ref != NULL && strncmp(msg, "nesting too deep", 16) != 0)
		{
			fprintf(stderr, "the tokenizer refuses what jansson accepts: %s\n", msg);
			FUZZ_CHECK(!"refused valid JSON");
		}
	}
	else
	{
		/*
		 * jansson refuses numbers beyond a double (the tokenizer keeps their
		 * text) and \u0000 in a key (a key the code can never ask for)
		 */
		if (ref == NULL && json_error_code(&jerr) != json_error_numeric_overflow &&
			json_error_code(&jerr) != json_error_null_byte_in_key)
		{
			fprintf(stderr, "the tokenizer accepts what jansson refuses: %s\n", jerr.text);
			FUZZ_CHECK(!"accepted invalid JSON");
		}
		if (ref != NULL)
		{
			compare(&doc, 0, ref);
			FUZZ_CHECK(tok(&doc, 0)->next == doc.ntoks);
		}
		cd_json_free(&doc);
	}
	json_decref(ref);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	scan_like_jansson((const char *) data, size);
	for (int i = 0; cd_apis[i]; i++)
		read_response(cd_apis[i], (const char *) data, size);
	return 0;
}
