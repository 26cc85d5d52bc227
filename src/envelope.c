/*-------------------------------------------------------------------------
 *
 * envelope.c
 *		  Read an API's list response: where the rows are, where the next
 *		  page is, what the API warns about.
 *
 * Pure C on jansson, with no PostgreSQL calls, so that the fuzz target in
 * test/fuzz can drive it directly; callers turn a failure into an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <stdio.h>

/*
 * Parse body into env.  On success env->root is a new reference the
 * caller must json_decref.  On failure nothing is held, and msg says why.
 */
CdEnvelopeError
cd_envelope_parse(const CdApi *api, const char *body, size_t len,
				  CdEnvelope *env, char *msg, size_t msglen)
{
	json_error_t jerr;
	json_t	   *next;

	memset(env, 0, sizeof(*env));
	env->root = json_loadb(body ? body : "", len, 0, &jerr);
	if (env->root == NULL)
	{
		snprintf(msg, msglen, "%s at position %d", jerr.text, jerr.position);
		return CD_ENV_NOT_JSON;
	}
	env->rows = cd_json_path(env->root, api->results_path);
	if (!json_is_array(env->rows))
	{
		snprintf(msg, msglen, "the response has no array of %ss where the API puts them",
				 api->object_noun);
		json_decref(env->root);
		env->root = NULL;
		return CD_ENV_NO_ROWS;
	}
	env->nrows = json_array_size(env->rows);

	next = cd_json_path(env->root, api->next_path);
	if (json_is_string(next) && json_string_length(next) > 0)
		env->next = json_string_value(next);
	else if (next != NULL && !json_is_null(next) && !json_is_string(next))
	{
		snprintf(msg, msglen, "the next-page link is not a string");
		json_decref(env->root);
		env->root = NULL;
		return CD_ENV_BAD_NEXT;
	}
	if (api->warnings_path[0])
		env->warnings = cd_json_path(env->root, api->warnings_path);
	return CD_ENV_OK;
}

/*
 * Row i of the page, or NULL if it is not a JSON object.
 */
json_t *
cd_envelope_row(const CdEnvelope *env, size_t i)
{
	json_t	   *row = json_array_get(env->rows, i);

	return json_is_object(row) ? row : NULL;
}
