/*-------------------------------------------------------------------------
 *
 * fuzz_story.c
 *		  libFuzzer target: the story given to create_candidate_story().
 *
 * The input is parsed as story.c parses the jsonb argument (jansson,
 * JSON_DECODE_ANY) and checked by cd_story_check (src/story_check.c).  A
 * body that passes is dumped as story.c sends it, and must itself pass
 * the check; a refusal must come with a usable message.  Built and run by
 * test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include <stdint.h>

#include "fuzz_common.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What is sent must be a story too: content, documents, maybe record_id. */
static void
check_body(json_t *body)
{
	char		msg[256];
	const char *hint;
	json_t	   *again;
	char	   *dumped;

	FUZZ_CHECK(json_is_object(body));
	FUZZ_CHECK(json_string_length(json_object_get(body, "content")) > 0);
	FUZZ_CHECK(json_is_array(json_object_get(body, "documents")));
	FUZZ_CHECK(json_object_size(body) <= 3);

	dumped = json_dumps(body, JSON_COMPACT);
	FUZZ_CHECK(dumped != NULL);
	FUZZ_CHECK(fuzz_valid_utf8(dumped, strlen(dumped)));
	free(dumped);

	again = cd_story_check(body, msg, sizeof(msg), &hint);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(json_equal(again, body));
	json_decref(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	   *story = json_loadb((const char *) data, size, JSON_DECODE_ANY, NULL);
	json_t	   *body;
	char		msg[256];
	static const char unset[] = "unset";
	const char *hint = unset;

	if (story == NULL)
		return 0;
	memset(msg, 0x7f, sizeof(msg));
	body = cd_story_check(story, msg, sizeof(msg), &hint);
	if (body)
	{
		check_body(body);
		json_decref(body);
	}
	else
	{
		fuzz_check_message(msg, sizeof(msg));
		/* story.c passes hint to errhint() when it is not NULL */
		FUZZ_CHECK(hint != unset);
		FUZZ_CHECK(hint == NULL || fuzz_valid_utf8(hint, strlen(hint)));
	}
	json_decref(story);
	return 0;
}
