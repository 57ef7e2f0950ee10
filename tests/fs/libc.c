/*
 * tests/fs: the C library subset the engine tests use, on top of crt.c's
 * system calls: strings, formatted output, a malloc, getenv, strtoul and
 * qsort. Plain and small; speed matters only in that it must not make the
 * tests crawl under qemu-user.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

long fs_write(int fd, const void *buf, size_t n);
void *fs_mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int fs_munmap(void *addr, size_t len);
__attribute__((noreturn)) void fs_exit(int code);

char **fs_environ;

/* ---- strings ------------------------------------------------------------ */

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, (size_t)-1);
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *strstr(const char *h, const char *n)
{
	size_t len = strlen(n);

	for (; *h; h++)
		if (!strncmp(h, n, len))
			return (char *)h;
	return len ? NULL : (char *)h;
}

char *strerror(int err)
{
	(void)err;
	return "error";
}

/* ---- formatted output ----------------------------------------------------- */

struct out {
	char *buf;
	size_t len, pos;
};

static void put(struct out *o, char c)
{
	if (o->pos + 1 < o->len)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_num(struct out *o, unsigned long long v, unsigned base, int upper, int neg,
		    int width, int zero, int left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, len;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = n + neg;
	if (!left && !zero)
		for (; width > len; width--)
			put(o, ' ');
	if (neg)
		put(o, '-');
	if (!left && zero)
		for (; width > len; width--)
			put(o, '0');
	while (n)
		put(o, tmp[--n]);
	for (; left && width > len; width--)
		put(o, ' ');
}

int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct out o = { buf, len, 0 };

	for (; *fmt; fmt++) {
		int width = 0, zero = 0, left = 0, lng = 0, prec = -1;
		unsigned long long u;
		long long s;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = 1;
			else if (*fmt == '-')
				left = 1;
			else if (*fmt != '#' && *fmt != ' ' && *fmt != '+')
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		if (*fmt == '.') {
			prec = 0;
			fmt++;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			for (; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't')
				lng++;
			else if (*fmt != 'h')
				break;
		}
		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng ? va_arg(ap, long long) : va_arg(ap, int);
			put_num(&o, s < 0 ? 0ull - (unsigned long long)s : (unsigned long long)s, 10, 0,
				s < 0, width, zero, left);
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			u = lng ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
			put_num(&o, u, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, *fmt == 'X', 0, width,
				zero, left);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uintptr_t)va_arg(ap, void *), 16, 0, 0, 0, 0, 0);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			int n;

			if (!str)
				str = "(null)";
			n = (int)strlen(str);
			if (prec >= 0 && n > prec)
				n = prec;
			for (; !left && width > n; width--)
				put(&o, ' ');
			for (int k = 0; k < n; k++)
				put(&o, str[k]);
			for (; left && width > n; width--)
				put(&o, ' ');
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default: /* not used by the tests: shown as is */
			put(&o, '%');
			put(&o, *fmt);
			if (!*fmt)
				fmt--;
			break;
		}
	}
	if (len)
		buf[o.pos < len ? o.pos : len - 1] = 0;
	return (int)o.pos;
}

int snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

struct fs_file {
	int fd;
};
static FILE out_file = { 1 }, err_file = { 2 };
FILE *stdout = &out_file, *stderr = &err_file;

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		long w = fs_write(fd, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
	char buf[2048];
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(buf, sizeof(buf), fmt, aq);
	va_end(aq);
	if (n < (int)sizeof(buf)) {
		write_all(f->fd, buf, (size_t)n);
	} else {
		char *big = malloc((size_t)n + 1);

		if (!big)
			return -1;
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		write_all(f->fd, big, (size_t)n);
		free(big);
	}
	return n;
}

int fprintf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(stdout, fmt, ap);
	va_end(ap);
	return n;
}

int fputs(const char *s, FILE *f)
{
	write_all(f->fd, s, strlen(s));
	return 0;
}

int puts(const char *s)
{
	fputs(s, stdout);
	write_all(1, "\n", 1);
	return 0;
}

int fflush(FILE *f)
{
	(void)f; /* nothing is buffered */
	return 0;
}

/* ---- memory --------------------------------------------------------------
 * Blocks carry their size class in a header: classes of 2^k bytes (k 5..20)
 * come from free lists refilled from 1 MiB mmap chunks; bigger ones are a
 * mapping of their own. Mappings come zeroed. */

#define MIN_CLASS 5
#define MAX_CLASS 20
#define CHUNK (1ul << 20)
#define HDR 16u

static void *free_list[MAX_CLASS + 1];
static char *chunk_pos, *chunk_end;

static void *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *malloc(size_t n)
{
	size_t need = n + HDR;
	unsigned k = MIN_CLASS;
	char *p;

	if (n > ((size_t)1 << 40))
		return NULL;
	while (k <= MAX_CLASS && ((size_t)1 << k) < need)
		k++;
	if (k > MAX_CLASS) {
		size_t total = (need + 4095) & ~(size_t)4095;

		p = map(total);
		if (!p)
			return NULL;
		*(size_t *)p = total;
		((size_t *)p)[1] = 0;
		return p + HDR;
	}
	if (free_list[k]) {
		p = free_list[k];
		free_list[k] = *(void **)p;
	} else {
		if ((size_t)(chunk_end - chunk_pos) < ((size_t)1 << k)) {
			chunk_pos = map(CHUNK);
			if (!chunk_pos)
				return NULL;
			chunk_end = chunk_pos + CHUNK;
		}
		p = chunk_pos;
		chunk_pos += (size_t)1 << k;
	}
	*(size_t *)p = k;
	((size_t *)p)[1] = 1;
	return p + HDR;
}

void free(void *q)
{
	char *p;
	size_t k;

	if (!q)
		return;
	p = (char *)q - HDR;
	k = *(size_t *)p;
	if (!((size_t *)p)[1]) {
		munmap(p, k);
		return;
	}
	*(void **)p = free_list[k];
	free_list[k] = p;
}

static size_t usable(void *q)
{
	char *p = (char *)q - HDR;

	return ((size_t *)p)[1] ? ((size_t)1 << *(size_t *)p) - HDR : *(size_t *)p - HDR;
}

void *calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > (size_t)-1 / size)
		return NULL;
	p = malloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *realloc(void *q, size_t n)
{
	void *p;
	size_t old;

	if (!q)
		return malloc(n);
	old = usable(q);
	if (n <= old)
		return q;
	p = malloc(n);
	if (!p)
		return NULL;
	memcpy(p, q, old);
	free(q);
	return p;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
	void *p = fs_mmap(addr, len, prot, flags, fd, off);

	return (uintptr_t)p > (uintptr_t)-4096 ? MAP_FAILED : p;
}

int munmap(void *addr, size_t len)
{
	return fs_munmap(addr, len) ? -1 : 0;
}

/* ---- the rest --------------------------------------------------------------- */

void exit(int code)
{
	fs_exit(code);
}

void abort(void)
{
	write_all(2, "abort\n", 6);
	fs_exit(134);
}

char *getenv(const char *name)
{
	size_t n = strlen(name);
	char **e;

	for (e = fs_environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

unsigned long long strtoull(const char *s, char **end, int base)
{
	unsigned long long v = 0;

	while (*s == ' ')
		s++;
	if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		base = 16;
	} else if (base == 0) {
		base = s[0] == '0' ? 8 : 10;
	}
	for (;; s++) {
		int d = *s >= '0' && *s <= '9'   ? *s - '0'
			: *s >= 'a' && *s <= 'z' ? *s - 'a' + 10
			: *s >= 'A' && *s <= 'Z' ? *s - 'A' + 10
						 : 99;
		if (d >= base)
			break;
		v = v * (unsigned)base + (unsigned)d;
	}
	if (end)
		*end = (char *)s;
	return v;
}

unsigned long strtoul(const char *s, char **end, int base)
{
	return (unsigned long)strtoull(s, end, base);
}

long strtol(const char *s, char **end, int base)
{
	while (*s == ' ')
		s++;
	if (*s == '-')
		return -(long)strtoull(s + 1, end, base);
	return (long)strtoull(s, end, base);
}

int atoi(const char *s)
{
	return (int)strtol(s, NULL, 10);
}

/* Insertion sort: the tests sort a few thousand elements at most. */
void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *b = base, tmp[256];
	size_t i, j;

	if (size > sizeof(tmp))
		abort();
	for (i = 1; i < n; i++) {
		memcpy(tmp, b + i * size, size);
		for (j = i; j > 0 && cmp(b + (j - 1) * size, tmp) > 0; j--)
			memcpy(b + j * size, b + (j - 1) * size, size);
		memcpy(b + j * size, tmp, size);
	}
}
