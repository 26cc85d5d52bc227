/*-------------------------------------------------------------------------
 *
 * mime.c
 *		  Content types of uploaded documents: Checkr's list, and detection
 *		  from a file's first bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "candidate_docs.h"

static const char *const allowed_types[] = {
	"image/gif", "image/jpg", "image/jpeg", "image/png", "image/bmp",
	"image/tiff", "application/pdf", "image/heic", NULL
};

/* ISO base media brands of HEIF/HEIC still images */
static const char *const heic_brands[] = {
	"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", NULL
};

bool
cd_content_type_allowed(const char *content_type)
{
	for (int i = 0; allowed_types[i]; i++)
		if (strcmp(allowed_types[i], content_type) == 0)
			return true;
	return false;
}

/*
 * The allowed types as "a, b, c", for messages.  Result is palloc'd.
 */
const char *
cd_allowed_content_types(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; allowed_types[i]; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", allowed_types[i]);
	return buf.data;
}

static bool
starts_with(const char *data, size_t len, const char *magic, size_t n)
{
	return len >= n && memcmp(data, magic, n) == 0;
}

/*
 * The content type of a file from its magic bytes, or NULL if it is none
 * of the types Checkr takes.
 */
const char *
cd_sniff_content_type(const char *data, size_t len)
{
	if (starts_with(data, len, "%PDF-", 5))
		return "application/pdf";
	if (starts_with(data, len, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (starts_with(data, len, "\xff\xd8\xff", 3))
		return "image/jpeg";
	if (starts_with(data, len, "GIF87a", 6) || starts_with(data, len, "GIF89a", 6))
		return "image/gif";
	if (starts_with(data, len, "BM", 2) && len >= 14)
		return "image/bmp";
	if (starts_with(data, len, "II*\0", 4) || starts_with(data, len, "MM\0*", 4))
		return "image/tiff";
	if (len >= 12 && memcmp(data + 4, "ftyp", 4) == 0)
	{
		for (int i = 0; heic_brands[i]; i++)
			if (memcmp(data + 8, heic_brands[i], 4) == 0)
				return "image/heic";
	}
	return NULL;
}
