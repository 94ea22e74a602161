/* textbuf.c - see textbuf.h. */
#include "replica/textbuf.h"

#include <stdio.h>

void textbuf_vput(struct textbuf *w, const char *fmt, va_list ap)
{
	if (w->over)
		return;
	int n = vsnprintf(w->p + w->len, w->cap - w->len, fmt, ap);
	if (n < 0 || (size_t)n >= w->cap - w->len) {
		w->over = 1;
		return;
	}
	w->len += (size_t)n;
}

void textbuf_put(struct textbuf *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	textbuf_vput(w, fmt, ap);
	va_end(ap);
}

void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
