/* textbuf.h - a bounded text writer: printf into a caller's buffer, overflow sticky.
 * Used by the status document (status.c) and the metrics page (metrics.c).  And the
 * error message every IO function leaves in its caller's (err, errlen): seterr. */
#ifndef BYZLAB_TEXTBUF_H
#define BYZLAB_TEXTBUF_H

#include <stdarg.h>
#include <stddef.h>

struct textbuf {
	char *p;
	size_t len, cap;
	int over; /* sticky: once something did not fit, nothing more is written */
};

void textbuf_vput(struct textbuf *w, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void textbuf_put(struct textbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* printf into err[0..errlen), truncated if need be; nothing if err is NULL or errlen 0. */
void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
