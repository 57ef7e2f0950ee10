#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_translate (tests/fuzz/corpus-translate):
per pair of translate_fz.c, a stage-1 chain from the root page through one
table per level to a 4 KiB leaf, and probes of it. Run from the top of the
tree; the seeds are committed."""
import struct

PAIRS = [('x86', 4), ('x86', 5), ('x86', 4), ('x86', 5), ('arm', 4), ('arm', 4),
         ('rv', 3), ('rv', 4), ('rv', 5), ('x86', 4), ('x86', 4)]
TABLE = {'x86': 0x007, 'arm': 0x003, 'rv': 0x001}
LEAF = {'x86': 0x067, 'arm': 0x443, 'rv': 0x0df}


def ptr(page, slot, target, low, high=0):
    return b'p' + struct.pack('<BHBHB', page, slot, target, low, high)


def probe(va, access):
    return b't' + struct.pack('<QB', va, access)


for i, (fam, levels) in enumerate(PAIRS):
    for variant in range(2):
        out = bytes([i, 0])
        va = 0x1000 if variant == 0 else 0x7fff_f000 & ((1 << (12 + 9 * levels)) - 1)
        for level in range(levels - 1, -1, -1):
            slot = (va >> (12 + 9 * level)) & 511
            page = levels - 1 - level
            if level:
                out += ptr(page, slot, page + 1, TABLE[fam])
            else:
                out += ptr(page, slot, 8 + variant, LEAF[fam])
        for access in (1, 2, 4, 9, 10):
            out += probe(va + 0x18, access)
        out += probe(1 << 63, 1)
        with open('tests/fuzz/corpus-translate/seed-%02d-%d' % (i, variant), 'wb') as f:
            f.write(out)
