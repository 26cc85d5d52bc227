/*-------------------------------------------------------------------------
 *
 * envelope.c
 *		  Read an API's list response: where the rows are, where the next
 *		  page is, what the API warns about.
 *
 * Pure C on jsonscan.c, with no PostgreSQL calls, so that the fuzz target
 * in test/fuzz can drive it directly; callers turn a failure into an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <stdio.h>

static CdEnvelopeError
envelope_fail(CdEnvelope *env, CdEnvelopeError err, char *msg, size_t msglen,
			  const char *what)
{
	snprintf(msg, msglen, "%s", what);
	cd_envelope_free(env);
	return err;
}

/*
 * Parse body (kept by the caller for as long as env is used) into env.
 * On failure nothing is held, and msg says why.  Free with
 * cd_envelope_free.
 */
CdEnvelopeError
cd_envelope_parse(const CdApi *api, const char *body, size_t len,
				  CdEnvelope *env, char *msg, size_t msglen)
{
	int			rows;
	int			next;
	int			t;

	memset(env, 0, sizeof(*env));
	env->warnings = -1;
	if (!cd_json_scan(body ? body : "", body ? len : 0, &env->doc, msg, msglen))
		return CD_ENV_NOT_JSON;

	rows = cd_json_path_tok(&env->doc, 0, api->results_path);
	if (rows < 0 || env->doc.toks[rows].type != CD_JSON_ARRAY)
		return envelope_fail(env, CD_ENV_NO_ROWS, msg, msglen,
							 "the response has no array of rows where the API puts them");
	env->nrows = env->doc.toks[rows].size;
	env->rows = malloc(sizeof(int) * (env->nrows + 1));
	if (env->rows == NULL)
		return envelope_fail(env, CD_ENV_NO_ROWS, msg, msglen, "out of memory");
	t = rows + 1;
	for (size_t i = 0; i < env->nrows; i++)
	{
		env->rows[i] = t;
		t = env->doc.toks[t].next;
	}

	next = cd_json_path_tok(&env->doc, 0, api->next_path);
	if (next >= 0 && env->doc.toks[next].type == CD_JSON_STRING)
	{
		env->next = cd_json_strdup(&env->doc, next);
		if (env->next == NULL)
			return envelope_fail(env, CD_ENV_BAD_NEXT, msg, msglen,
								 "the next-page link cannot be decoded");
		if (env->next[0] == '\0')
		{
			free(env->next);
			env->next = NULL;
		}
	}
	else if (next >= 0 && env->doc.toks[next].type != CD_JSON_NULL)
		return envelope_fail(env, CD_ENV_BAD_NEXT, msg, msglen,
							 "the next-page link is not a string");

	if (api->warnings_path[0])
	{
		env->warnings = cd_json_path_tok(&env->doc, 0, api->warnings_path);
		if (env->warnings >= 0 && env->doc.toks[env->warnings].type != CD_JSON_ARRAY)
			env->warnings = -1;
	}
	return CD_ENV_OK;
}

void
cd_envelope_free(CdEnvelope *env)
{
	cd_json_free(&env->doc);
	free(env->rows);
	free(env->next);
	env->rows = NULL;
	env->next = NULL;
	env->nrows = 0;
}

/*
 * The token of row i, or -1 if that row is not a JSON object.
 */
int
cd_envelope_row(const CdEnvelope *env, size_t i)
{
	int			t = env->rows[i];

	return env->doc.toks[t].type == CD_JSON_OBJECT ? t : -1;
}
