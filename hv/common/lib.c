/*
 * What a kernel gives the code it links (memset and memcpy, the two symbols
 * libnpt needs, are in string.c): a printf for the architecture's console,
 * a random number generator.
 */
#include <stdarg.h>

#include "hv.h"

static void put_u(uint64_t v, unsigned base, int width)
{
	char d[24];
	int n = 0;

	do {
		d[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (width-- > n)
		hv_putc('0');
	while (n)
		hv_putc(d[--n]);
}

/* %s %c %d %u %x %lu %lx %llu %llx, with a 0-padded width for x */
void hv_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		int width = 0, longs = 0;

		if (*fmt != '%') {
			hv_putc(*fmt);
			continue;
		}
		fmt++;
		while (*fmt == '0' || (*fmt >= '1' && *fmt <= '9'))
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);

			while (*s)
				hv_putc(*s++);
			break;
		}
		case 'c':
			hv_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			long long v = longs ? va_arg(ap, long long) : va_arg(ap, int);

			if (v < 0) {
				hv_putc('-');
				v = -v;
			}
			put_u((uint64_t)v, 10, width);
			break;
		}
		case 'u':
			put_u(longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 10, width);
			break;
		case 'x':
			put_u(longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 16, width);
			break;
		default:
			hv_putc('%');
			hv_putc(*fmt);
		}
	}
	va_end(ap);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

void hv_seed(uint64_t seed)
{
	rng = seed * 0x9e3779b97f4a7c15ull + 1;
}

uint64_t hv_rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
