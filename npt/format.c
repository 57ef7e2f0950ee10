/*
 * Format lookup and the raw-entry helpers: everything here reads only the
 * format data in arch/.
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

#define MAX_FORMATS 64

const struct npt_format *npt_format_by_name(const char *name)
{
	unsigned i;

	if (!name)
		return NULL;
	for (i = 0; npt_formats[i]; i++)
		if (!strcmp(npt_formats[i]->name, name))
			return npt_formats[i];
	return NULL;
}

static const char *names[MAX_FORMATS + 1];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void names_init(void)
{
	unsigned i;

	for (i = 0; npt_formats[i] && i < MAX_FORMATS; i++)
		names[i] = npt_formats[i]->name;
}

const char *const *npt_format_names(void)
{
	pthread_once(&names_once, names_init);
	return names;
}

int npt_format_info(const struct npt_format *f, struct npt_format_info *info)
{
	unsigned level;

	if (!f || !info)
		return NPT_ERR_INVAL;
	memset(info, 0, sizeof(*info));
	info->name = f->name;
	info->description = f->description;
	info->levels = f->levels;
	info->va_bits = f->va_bits;
	info->pa_bits = f->pa_bits;
	info->canonical = f->canonical;
	info->stage2 = f->stage2;
	info->root_entries = npt_fmt_root_entries(f);
	info->root_frames = npt_fmt_root_frames(f);
	for (level = 0; level < f->levels; level++)
		if (f->leaf_levels >> level & 1)
			info->leaf_sizes |= 1ull << npt_level_shift(level);
	info->flags = f->flags;
	if (f->accessed_bit)
		info->features |= NPT_FEATURE_ACCESSED;
	if (f->dirty_bit || f->dbm_bit)
		info->features |= NPT_FEATURE_DIRTY;
	if (f->sw_log_bit && (f->w_set | f->w_clear))
		info->features |= NPT_FEATURE_LOG;
	if (f->bbm)
		info->features |= NPT_FEATURE_BBM;
	return 0;
}

static int leaf_level_ok(const struct npt_format *f, unsigned level)
{
	return level < f->levels && (f->leaf_levels >> level & 1);
}

int npt_encode_leaf(const struct npt_format *f, unsigned level, uint64_t pa,
		    unsigned flags, uint64_t *pte)
{
	uint64_t bits;
	int err;

	if (!f || !pte || !leaf_level_ok(f, level))
		return NPT_ERR_INVAL;
	if (pa & ((1ull << npt_level_shift(level)) - 1))
		return NPT_ERR_ALIGN;
	err = npt_check_output(f, pa, 1ull << npt_level_shift(level));
	if (err)
		return err;
	if (flags & ~f->flags)
		return NPT_ERR_FLAGS;
	err = f->encode(f, level, flags, &bits);
	if (err)
		return err;
	*pte = bits | npt_addr_bits(f, pa);
	return 0;
}

int npt_decode(const struct npt_format *f, unsigned level, uint64_t pte,
	       uint64_t *pa, unsigned *flags, int *is_leaf)
{
	int leaf;

	if (!f || level >= f->levels)
		return NPT_ERR_INVAL;
	if (!npt_pte_present(f, pte))
		return NPT_ERR_NOT_MAPPED;
	leaf = npt_pte_leaf(f, level, pte);
	if (is_leaf)
		*is_leaf = leaf;
	if (pa)
		*pa = npt_pte_addr(f, pte) & (leaf ? ~((1ull << npt_level_shift(level)) - 1) : ~0ull);
	if (flags)
		*flags = leaf ? f->decode(f, level, pte) : 0;
	return 0;
}
