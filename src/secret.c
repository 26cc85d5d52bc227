/*-------------------------------------------------------------------------
 *
 * secret.c
 *		  Keep an API key out of text that reaches a message or the log.
 *
 * A server that echoes a request (a proxy's error page, an API message)
 * may show the key plainly, as the Basic credentials base64("KEY:"), or
 * inside some other base64 value, where the characters it gives depend on
 * the key's alignment in the stream.  The forms masked are the key, the
 * Basic credentials, and for each of the other two alignments the run of
 * base64 characters that only the key's bytes decide (the first form
 * covers the alignment of the credentials).  Any piece of a form at least
 * CD_SECRET_MIN_PIECE characters long is masked wherever it stands, and at
 * the end of text that was cut, so is a start of a form of at least
 * CD_SECRET_MIN_TAIL characters.  Masking writes '*' over the bytes in
 * place, so text keeps its length.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

#include "common/base64.h"

#define CD_SECRET_MIN_PIECE 8
#define CD_SECRET_MIN_TAIL 4
#define CD_SECRET_FORMS 4

/* The forms of one key, palloc'd. */
typedef struct SecretForms
{
	int			n;
	const char *form[CD_SECRET_FORMS];
	size_t		len[CD_SECRET_FORMS];
} SecretForms;

static void
add_form(SecretForms *forms, const char *form)
{
	if (form[0] == '\0')
		return;
	forms->form[forms->n] = form;
	forms->len[forms->n] = strlen(form);
	forms->n++;
}

/* base64 of len bytes at src, palloc'd; "" if it cannot be made. */
static char *
base64(const char *src, size_t len)
{
	int			enclen = pg_b64_enc_len((int) len);
	char	   *dst = palloc0(enclen + 1);

	if (pg_b64_encode((const void *) src, (int) len, dst, enclen) < 0)
		dst[0] = '\0';
	return dst;
}

/*
 * The base64 characters that only key decides when it stands align bytes
 * (1 or 2) after the start of a 3-byte group: the groups made of key bytes
 * alone.  "" for a key too short to fill one.
 */
static char *
aligned_core(const char *key, size_t keylen, int align)
{
	char	   *shifted = palloc0(keylen + align);
	char	   *enc;
	size_t		first = (align + 2) / 3;
	size_t		end = (align + keylen) / 3;

	memcpy(shifted + align, key, keylen);
	enc = base64(shifted, keylen + align);
	if (end <= first)
		return "";
	enc[4 * end] = '\0';
	return enc + 4 * first;
}

static void
secret_forms(const char *key, SecretForms *forms)
{
	size_t		keylen = strlen(key);
	char	   *cred = psprintf("%s:", key);

	forms->n = 0;
	add_form(forms, key);
	add_form(forms, base64(cred, keylen + 1));
	add_form(forms, aligned_core(key, keylen, 1));
	add_form(forms, aligned_core(key, keylen, 2));
}

/*
 * Length of the longest piece of a form that text (len bytes) starts
 * with, counting only pieces long enough to mask; 0 if none.
 */
static size_t
piece_at(const SecretForms *forms, const char *text, size_t len)
{
	size_t		best = 0;

	for (int f = 0; f < forms->n; f++)
	{
		size_t		need = Min(forms->len[f], CD_SECRET_MIN_PIECE);

		for (size_t j = 0; j + need <= forms->len[f]; j++)
		{
			size_t		k = 0;

			while (k < len && j + k < forms->len[f] && text[k] == forms->form[f][j + k])
				k++;
			if (k >= need && k > best)
				best = k;
		}
	}
	return best;
}

/*
 * Mask in text (len bytes, NULs allowed) every piece of key's forms (see
 * the file's comment).  A NULL or empty key masks nothing.
 */
void
cd_secret_mask(const char *key, char *text, size_t len)
{
	SecretForms forms;

	if (key == NULL || key[0] == '\0')
		return;
	secret_forms(key, &forms);
	for (size_t i = 0; i < len;)
	{
		size_t		k = piece_at(&forms, text + i, len - i);

		if (k == 0)
			i++;
		else
		{
			memset(text + i, '*', k);
			i += k;
		}
	}
}

/*
 * text (len bytes) was cut from something longer: mask the longest start
 * of a form of key it ends with, if that is CD_SECRET_MIN_TAIL characters
 * or more (shorter ones are more likely chance than secret).
 */
void
cd_secret_mask_tail(const char *key, char *text, size_t len)
{
	SecretForms forms;

	if (key == NULL || key[0] == '\0')
		return;
	secret_forms(key, &forms);
	for (size_t s = Min(len, cd_secret_reach(key)); s >= CD_SECRET_MIN_TAIL; s--)
		for (int f = 0; f < forms.n; f++)
			if (forms.len[f] >= s && memcmp(text + len - s, forms.form[f], s) == 0)
			{
				memset(text + len - s, '*', s);
				return;
			}
}

/*
 * text with key masked, as a palloc'd copy, for text that may have been
 * cut at its end (a parser's complaint that quotes the input).
 */
char *
cd_secret_masked(const char *key, const char *text)
{
	char	   *copy = pstrdup(text);
	size_t		len = strlen(copy);

	cd_secret_mask(key, copy, len);
	cd_secret_mask_tail(key, copy, len);
	return copy;
}

/*
 * How far past a cut a form that the cut may split can reach: text masked
 * that far beyond it holds every such form whole.
 */
size_t
cd_secret_reach(const char *key)
{
	return key ? (size_t) pg_b64_enc_len((int) strlen(key) + 1) : 0;
}
