/*
 * npt_dump: a table as text, one line per run of leaves (npt_walk with
 * NPT_WALK_RUNS), like Linux's ptdump or QEMU's `info mem`. It formats
 * without stdio, so it stays in the freestanding build.
 */
#include "internal.h"

struct dump {
	int (*line)(void *arg, const char *text);
	void *arg;
};

static char *put_str(char *o, const char *s)
{
	while (*s)
		*o++ = *s++;
	return o;
}

static char *put_hex(char *o, uint64_t v)
{
	int sh;

	for (sh = 60; sh >= 0; sh -= 4)
		*o++ = "0123456789abcdef"[(v >> sh) & 0xf];
	return o;
}

static char *put_dec(char *o, uint64_t v)
{
	char d[20];
	int n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = d[--n];
	return o;
}

/* bytes in the largest unit that divides them: 4K, 2M, 1G, 3G, 1028K ... */
static char *put_size(char *o, uint64_t bytes)
{
	static const char units[] = "KMGTPE";
	unsigned u = 0;

	if (bytes & 1023) {
		o = put_dec(o, bytes);
		return put_str(o, "B");
	}
	bytes >>= 10;
	while (u + 1 < sizeof(units) - 1 && bytes && !(bytes & 1023)) {
		bytes >>= 10;
		u++;
	}
	o = put_dec(o, bytes);
	*o++ = units[u];
	return o;
}

int npt_dump_line(const struct npt_visit *v, char *text, size_t len)
{
	static const struct {
		unsigned flag;
		char c;
	} letters[] = { { NPT_R, 'r' }, { NPT_W, 'w' }, { NPT_X, 'x' }, { NPT_U, 'u' },
			{ NPT_DEVICE, 'm' }, { NPT_A, 'a' }, { NPT_D, 'd' }, { NPT_G, 'g' } };
	char *o = text;
	unsigned i;

	/* at most 16+1+16+1+7+4+16+1+8+1+7+7+1 = 86 bytes */
	if (!v || !text || len < NPT_DUMP_LINE)
		return NPT_ERR_INVAL;
	o = put_hex(o, v->va);
	*o++ = '-';
	o = put_hex(o, v->va + (v->size - 1));
	*o++ = ' ';
	o = put_size(o, v->size);
	o = put_str(o, " -> ");
	o = put_hex(o, v->pa);
	*o++ = ' ';
	for (i = 0; i < sizeof(letters) / sizeof(letters[0]); i++)
		*o++ = v->flags & letters[i].flag ? letters[i].c : '-';
	*o++ = ' ';
	o = put_size(o, npt_level_size(v->level));
	if (v->shared)
		o = put_str(o, " shared");
	*o = 0;
	return 0;
}

static int dump_visit(const struct npt_visit *v, void *arg)
{
	const struct dump *d = arg;
	char text[NPT_DUMP_LINE];

	npt_dump_line(v, text, sizeof(text));
	return d->line(d->arg, text);
}

int npt_dump(const struct npt_table *t, uint64_t va, uint64_t size,
	     int (*line)(void *arg, const char *text), void *arg)
{
	struct dump d = { line, arg };

	if (!line)
		return NPT_ERR_INVAL;
	return npt_walk(t, va, size, NPT_WALK_RUNS, dump_visit, &d);
}
