/*-------------------------------------------------------------------------
 *
 * story_check.c
 *		  Check a candidate story before it is sent, and build the body of
 *		  the POST: content, documents, record_id.
 *
 * Pure C on jansson, with no PostgreSQL calls, so that the fuzz target in
 * test/fuzz can drive it directly; story.c turns a failure into an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <stdio.h>

#define ALLOWED_TYPES_HINT \
	"Allowed types are: image/gif, image/jpg, image/jpeg, image/png, " \
	"image/bmp, image/tiff, application/pdf, image/heic."

static const char *const story_keys[] = {"content", "documents", "record_id", NULL};
static const char *const document_keys[] = {"filename", "tempfile", "type", NULL};

/* A message quotes at most this many bytes of an unknown key. */
#define KEY_QUOTE_MAX 64

/*
 * How many bytes of key (UTF-8, as jansson guarantees) a message quotes:
 * all of it, or at most KEY_QUOTE_MAX without splitting a character, so
 * that the message stays valid UTF-8 and fits its buffer.
 */
static int
key_quote_len(const char *key)
{
	size_t		len = strlen(key);

	if (len <= KEY_QUOTE_MAX)
		return (int) len;
	len = KEY_QUOTE_MAX;
	while (len > 0 && ((unsigned char) key[len] & 0xC0) == 0x80)
		len--;
	return (int) len;
}

/* The first key of obj outside keys[], or NULL. */
static const char *
unknown_key(json_t *obj, const char *const *keys)
{
	const char *key;
	json_t	   *value;

	json_object_foreach(obj, key, value)
	{
		bool		known = false;

		for (int i = 0; keys[i]; i++)
			known |= (strcmp(keys[i], key) == 0);
		if (!known)
			return key;
	}
	return NULL;
}

static bool
is_http_url(const char *s)
{
	return (pg_strncasecmp(s, "https://", 8) == 0 && s[8] != '\0') ||
		(pg_strncasecmp(s, "http://", 7) == 0 && s[7] != '\0');
}

/* Check documents[i]; on a problem, fill msg and return its hint. */
static bool
check_document(json_t *doc, size_t i, char *msg, size_t msglen, const char **hint)
{
	const char *filename = json_string_value(json_object_get(doc, "filename"));
	const char *tempfile = json_string_value(json_object_get(doc, "tempfile"));
	const char *type = json_string_value(json_object_get(doc, "type"));
	const char *key;

	*hint = NULL;
	if (!json_is_object(doc))
	{
		snprintf(msg, msglen, "documents[%zu] is not an object", i);
		*hint = "Each document is {\"filename\": ..., \"tempfile\": ..., \"type\": ...}.";
	}
	else if ((key = unknown_key(doc, document_keys)) != NULL)
	{
		int			n = key_quote_len(key);

		snprintf(msg, msglen, "unknown key \"%.*s%s\" in documents[%zu]",
				 n, key, key[n] ? "..." : "", i);
		*hint = "Allowed keys of a document are: filename, tempfile, type.";
	}
	else if (filename == NULL || filename[0] == '\0')
		snprintf(msg, msglen, "documents[%zu] needs \"filename\", a non-empty string", i);
	else if (tempfile == NULL || !is_http_url(tempfile))
	{
		snprintf(msg, msglen, "documents[%zu] needs \"tempfile\", an http or https URL", i);
		*hint = "Checkr copies the file from that URL.";
	}
	else if (type == NULL || !cd_content_type_allowed(type))
	{
		snprintf(msg, msglen, "documents[%zu] needs \"type\", a MIME type Checkr accepts", i);
		*hint = ALLOWED_TYPES_HINT;
	}
	else
		return true;
	return false;
}

/* Check the story's own keys; on a problem, fill msg and hint. */
static bool
check_story(json_t *story, char *msg, size_t msglen, const char **hint)
{
	json_t	   *content = json_object_get(story, "content");
	json_t	   *documents = json_object_get(story, "documents");
	json_t	   *record_id = json_object_get(story, "record_id");
	const char *key;
	json_t	   *doc;
	size_t		i;

	*hint = NULL;
	if (!json_is_object(story))
	{
		snprintf(msg, msglen, "the story is not a JSON object");
		*hint = "Pass {\"content\": \"...\", \"documents\": [...]}.";
		return false;
	}
	if ((key = unknown_key(story, story_keys)) != NULL)
	{
		int			n = key_quote_len(key);

		snprintf(msg, msglen, "unknown key \"%.*s%s\"", n, key, key[n] ? "..." : "");
		*hint = "Allowed keys are: content, documents, record_id.";
		return false;
	}
	if (!json_is_string(content) || json_string_length(content) == 0)
		snprintf(msg, msglen, "\"content\" must be a non-empty string");
	else if (documents != NULL && !json_is_array(documents))
	{
		snprintf(msg, msglen, "\"documents\" must be an array");
		*hint = "Use [] for a story without documents.";
	}
	else if (record_id != NULL && !json_is_string(record_id))
		snprintf(msg, msglen, "\"record_id\" must be a string");
	else
	{
		json_array_foreach(documents, i, doc)
			if (!check_document(doc, i, msg, msglen, hint))
				return false;
		return true;
	}
	return false;
}

/*
 * Check a story and return the body to send, a new reference the caller
 * must json_decref: content, documents (default []), record_id if given.
 * On a problem, return NULL with msg and *hint (maybe NULL) saying what.
 * No PostgreSQL calls: the fuzz target drives it directly.
 */
json_t *
cd_story_check(json_t *story, char *msg, size_t msglen, const char **hint)
{
	json_t	   *documents;
	json_t	   *body;

	if (!check_story(story, msg, msglen, hint))
		return NULL;
	documents = json_object_get(story, "documents");
	body = json_pack("{s:O, s:o}", "content", json_object_get(story, "content"),
					 "documents", documents ? json_incref(documents) : json_array());
	if (body && json_object_get(story, "record_id"))
		json_object_set(body, "record_id", json_object_get(story, "record_id"));
	if (body == NULL)
		snprintf(msg, msglen, "out of memory");
	return body;
}
