/*
 * Format lookup and the raw-entry helpers: everything here reads only the
 * format data in arch/.
 */
#include "internal.h"
#include "../arch/arch.h"

static int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

const struct npt_format *npt_format_by_name(const char *name)
{
	unsigned i;

	if (!name)
		return NULL;
	for (i = 0; npt_formats[i]; i++)
		if (str_eq(npt_formats[i]->name, name))
			return npt_formats[i];
	return NULL;
}

/* arch/formats.c keeps the names beside the list, as constant data: no
 * lock and no first-use initialisation. */
const char *const *npt_format_names(void)
{
	return npt_format_name_list;
}

int npt_format_info(const struct npt_format *f, struct npt_format_info *info)
{
	unsigned level;

	if (!f || !info)
		return NPT_ERR_INVAL;
	npt_memset(info, 0, sizeof(*info));
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

int npt_encode_leaf(const struct npt_format *f, unsigned level, uint64_t pa,
		    unsigned flags, uint64_t *pte)
{
	uint64_t bits;
	int err;

	if (!f || !pte || !npt_arch_leaf_level(f, level))
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
