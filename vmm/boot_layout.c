/*
 * The layout file of `vmm boot` (format in boot.h): one range a line,
 * checked as it is read, each refusal naming its line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"

#define KIB 1024ull

int boot_errf(char err[BOOT_ERR_LEN], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, BOOT_ERR_LEN, fmt, ap);
	va_end(ap);
	return -1;
}

static int layout_fail(char *err, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, BOOT_ERR_LEN, "line %u: ", line);

	va_start(ap, fmt);
	vsnprintf(err + n, BOOT_ERR_LEN - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct {
	const char *name;
	enum boot_kind kind;
} kinds[] = {
	{ "ram", BOOT_RAM }, { "rom", BOOT_ROM }, { "mmio", BOOT_MMIO }, { "hole", BOOT_HOLE },
};

/* One whitespace-separated word of the line [*p, end): its bounds, or 0. */
static int word(const char **p, const char *end, const char **w, size_t *n)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	*w = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*n = (size_t)(s - *w);
	*p = s;
	return *n != 0;
}

static int word_is(const char *w, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(w, lit, n);
}

/* A number: decimal or 0x hex, then K, M or G (powers of 1024) if any. */
static int number(const char *w, size_t n, uint64_t *v)
{
	unsigned base = 10, shift = 0;
	uint64_t x = 0;
	size_t i = 0;

	if (n > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (n > i) {
		switch (w[n - 1]) {
		case 'K': shift = 10; n--; break;
		case 'M': shift = 20; n--; break;
		case 'G': shift = 30; n--; break;
		}
	}
	if (i == n)
		return -1;
	for (; i < n; i++) {
		unsigned d;

		if (w[i] >= '0' && w[i] <= '9')
			d = (unsigned)(w[i] - '0');
		else if (base == 16 && w[i] >= 'a' && w[i] <= 'f')
			d = (unsigned)(w[i] - 'a' + 10);
		else if (base == 16 && w[i] >= 'A' && w[i] <= 'F')
			d = (unsigned)(w[i] - 'A' + 10);
		else
			return -1;
		if (x > (UINT64_MAX - d) / base)
			return -1;
		x = x * base + d;
	}
	if (shift && x > UINT64_MAX >> shift)
		return -1;
	*v = x << shift;
	return 0;
}

/* One line (no newline, comment cut): a range into *r, or nothing (*r->kind
 * stays 0) for a blank line. */
static int parse_line(const char *p, const char *end, unsigned line, uint64_t limit,
		      struct boot_range *r, char *err)
{
	const char *w;
	size_t n, k;

	r->kind = 0;
	if (!word(&p, end, &w, &n))
		return 0;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (word_is(w, n, kinds[k].name))
			r->kind = kinds[k].kind;
	if (!r->kind)
		return layout_fail(err, line, "unknown kind '%.*s' (ram, rom, mmio or hole)", (int)(n > 20 ? 20 : n), w);
	if (!word(&p, end, &w, &n))
		return layout_fail(err, line, "no base address");
	if (number(w, n, &r->base))
		return layout_fail(err, line, "base '%.*s' is not a number (K, M, G allowed)",
				   (int)(n > 24 ? 24 : n), w);
	if (!word(&p, end, &w, &n))
		return layout_fail(err, line, "no size");
	if (number(w, n, &r->size))
		return layout_fail(err, line, "size '%.*s' is not a number (K, M, G allowed)", (int)(n > 24 ? 24 : n), w);
	r->leaf = 0;
	r->line = line;
	if (word(&p, end, &w, &n)) {
		if (n < 5 || memcmp(w, "leaf=", 5))
			return layout_fail(err, line, "unexpected '%.*s' (only leaf=4K, 2M or 1G may follow)",
				    (int)(n > 24 ? 24 : n), w);
		if (r->kind != BOOT_RAM && r->kind != BOOT_ROM)
			return layout_fail(err, line, "leaf= applies to ram and rom ranges only");
		if (number(w + 5, n - 5, &r->leaf) ||
		    (r->leaf != 4 * KIB && r->leaf != 2 * KIB * KIB && r->leaf != KIB * KIB * KIB))
			return layout_fail(err, line, "leaf must be 4K, 2M or 1G");
		if (word(&p, end, &w, &n))
			return layout_fail(err, line, "unexpected '%.*s' after leaf=", (int)(n > 24 ? 24 : n), w);
	}
	if ((r->base | r->size) & (4 * KIB - 1))
		return layout_fail(err, line, "base 0x%llx and size 0x%llx must be multiples of 4K",
			    (unsigned long long)r->base, (unsigned long long)r->size);
	if (r->size == 0)
		return layout_fail(err, line, "size is 0");
	if (r->base >= limit || r->size > limit - r->base)
		return layout_fail(err, line, "range 0x%llx+0x%llx ends above the limit 0x%llx",
			    (unsigned long long)r->base, (unsigned long long)r->size,
			    (unsigned long long)limit);
	return 0;
}

int boot_layout_parse(const char *text, size_t len, uint64_t limit, struct boot_layout *out,
		      char err[BOOT_ERR_LEN])
{
	const char *p = text, *end = text + len;
	unsigned line = 0, i, ram = 0;

	out->n = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *hash, *stop = eol ? eol : end;
		struct boot_range r;

		line++;
		if (memchr(p, '\0', (size_t)(stop - p)))
			return layout_fail(err, line, "a NUL byte: not a text file");
		hash = memchr(p, '#', (size_t)(stop - p));
		if (parse_line(p, hash ? hash : (stop > p && stop[-1] == '\r' ? stop - 1 : stop),
			       line, limit, &r, err))
			return -1;
		p = eol ? eol + 1 : end;
		if (!r.kind)
			continue;
		for (i = 0; i < out->n; i++) {
			const struct boot_range *o = &out->r[i];

			if (r.base < o->base + o->size && o->base < r.base + r.size)
				return layout_fail(err, line, "overlaps the range of line %u", o->line);
		}
		if (out->n == BOOT_MAX_RANGES)
			return layout_fail(err, line, "more than %u ranges", BOOT_MAX_RANGES);
		out->r[out->n++] = r;
		ram += r.kind == BOOT_RAM;
	}
	if (!ram)
		return layout_fail(err, line, "no ram range in the file");
	return 0;
}

const struct boot_range *boot_layout_find(const struct boot_layout *l, uint64_t gpa)
{
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (gpa >= l->r[i].base && gpa - l->r[i].base < l->r[i].size)
			return &l->r[i];
	return NULL;
}
