/*-------------------------------------------------------------------------
 *
 * sanitize_preload.c
 *		  Preloaded after gcc's libasan into the test server by
 *		  test/sanitize.sh (`make test-asan`), to work around how the
 *		  sanitizer runtimes meet an uninstrumented PostgreSQL.
 *
 * 1. ASan starts lazily, at the first malloc.  In the server that comes
 *    from libgpg-error's constructor, inside bindtextdomain() while glibc
 *    holds its gettext lock.  At the end of its start-up ASan looks up
 *    swift_demangle with dlsym() and, when that fails, calls dlerror(),
 *    which translates its message and takes the same lock again: the lock
 *    is corrupted and the server hangs in its own first bindtextdomain().
 *    With the symbol defined here the lookup succeeds and dlerror() has
 *    nothing to translate.  (Returning NULL means "not a Swift name".)
 *
 * 2. gcc's UBSan runtime (libubsan, loaded with the extension) starts at
 *    its first report, in a backend, and reads UBSAN_OPTIONS from
 *    /proc/self/environ, which PostgreSQL has overwritten with the process
 *    title by then: halt_on_error and print_stacktrace would be lost.  The
 *    options are copied here while the postmaster starts, and handed back
 *    through UBSan's __ubsan_default_options hook.  (ASan starts in the
 *    postmaster and reads its options itself.)
 *
 * UBSan's own reports still go to the server's stderr (the server log):
 * test/sanitize.sh reads that too.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char ubsan_options[1024];

__attribute__((constructor))
static void
save_options(void)
{
	const char *value = getenv("UBSAN_OPTIONS");

	if (value && strlen(value) < sizeof(ubsan_options))
		strcpy(ubsan_options, value);
}

const char *__ubsan_default_options(void);
char	   *swift_demangle(const char *mangled, size_t len, char *out,
						   size_t *outlen, uint32_t flags);

const char *
__ubsan_default_options(void)
{
	return ubsan_options;
}

char *
swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen,
			   uint32_t flags)
{
	(void) mangled;
	(void) len;
	(void) out;
	(void) outlen;
	(void) flags;
	return NULL;
}
