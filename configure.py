#!/usr/bin/env python3
"""Writes build.ninja for npt.

Run it from the top of the source tree:

    python3 configure.py [--cc CC] [--mode debug|release|asan]
                         [--target x86_64|aarch64|riscv64|loongarch64]
                         [--freestanding] [--simd auto|off] [--cflags FLAGS]
                         [--ldflags FLAGS]
                         [--builddir DIR] [--prefix DIR] [-o FILE]

Without arguments it writes the committed build.ninja; with any, unless -o
names the file, BUILDDIR/build.ninja (ninja -f BUILDDIR/build.ninja).

Sources are found by glob, so a new file only needs a re-run (ninja re-runs
this script itself when configure.py or a source folder changes).

Three kinds of build tree:
  - the host's own (default): library, tests, vmm, guests, bench, fuzz;
  - a cross one (--target aarch64 or riscv64): the library and the engine
    tests, built with clang-19 and run under qemu-user;
  - a freestanding one (--freestanding, any target): libnpt.a built as a
    kernel builds its code, plus tests/fs, the engine's model-based test
    linked with no libc at all, run under qemu-user.
"""

import argparse
import glob
import os
import platform
import shlex
import shutil
import subprocess
import sys

MODES = {
    'debug': '-O1 -g',
    'release': '-O2 -g -DNDEBUG',
    'asan': '-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer '
            '-fno-sanitize-recover=all',
}
CFLAGS = '-std=c11 -Wall -Wextra -Werror -Inpt'
# libnpt.so.MAJOR.MINOR.PATCH, SONAME libnpt.so.MAJOR; also npt.pc's Version
VERSION = '0.2.0'
SONAME = 'libnpt.so.' + VERSION.split('.')[0]
CHECK_FALLBACK = '-lcheck -lsubunit -lm -lrt -lpthread'
CROSS_CC = 'clang-19'
CROSS_LD = 'ld.lld-19'

# Per target: the clang triples for Linux user space and for bare metal, the
# qemu-user binary that runs it when it is not the host, and the code
# generation a kernel uses (HACKING.md, "Targets"): no red zone and no
# SSE/AVX on x86, no FP/SIMD registers on aarch64, medany with no F/D/V on
# riscv64, soft-float on loongarch64. `novec` is what --simd off adds in a
# user-space build: no vector or FP instruction, same calling convention.
TARGETS = {
    'x86_64': dict(linux='x86_64-linux-gnu', none='x86_64-unknown-none-elf',
                   qemu=None, kernel='-mno-red-zone -mgeneral-regs-only',
                   novec='-mgeneral-regs-only'),
    'aarch64': dict(linux='aarch64-linux-gnu', none='aarch64-unknown-none-elf',
                    qemu='qemu-aarch64', kernel='-mgeneral-regs-only',
                    novec='-mgeneral-regs-only'),
    'riscv64': dict(linux='riscv64-linux-gnu', none='riscv64-unknown-elf',
                    qemu='qemu-riscv64',
                    kernel='-march=rv64imac -mabi=lp64 -mcmodel=medany '
                           '-mno-relax',
                    novec='-march=rv64gc'),
    'loongarch64': dict(linux=None, none='loongarch64-unknown-none',
                        qemu='qemu-loongarch64', kernel='-msoft-float',
                        novec='-msoft-float'),
}
FREESTANDING = ('-ffreestanding -fno-builtin -fno-stack-protector -nostdlibinc '
                '-fno-pic')
# Folders whose contents decide what gets built: adding or removing a file in
# one of them makes ninja re-run configure.py. Not bench/: its name is taken
# by the `bench` target (and scripts/bench.sh re-runs configure.py anyway).
SOURCE_DIRS = ['npt', 'arch', 'user', 'tests', 'tests/lib', 'tests/fuzz', 'tests/fs',
               'inspect', 'hv', 'hv/common', 'hv/x86', 'hv/aarch64', 'hv/riscv',
               'vmm', 'guest', 'guest/x86', 'guest/aarch64', 'guest/riscv']
# Tests a cross tree builds: everything but those needing the host's
# emulators, KVM or the build tree itself.
HOST_ONLY_TESTS = ['tests/test_qemu.c', 'tests/test_qemu_x86.c']


def host_target():
    m = platform.machine()
    return {'amd64': 'x86_64', 'arm64': 'aarch64'}.get(m, m)


def files(pattern):
    return sorted(glob.glob(pattern))


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def obj(path):
    return '$builddir/obj/' + os.path.splitext(path)[0] + '.o'


def pkg_config(*args, libdir=None):
    env = dict(os.environ)
    if libdir:
        env['PKG_CONFIG_LIBDIR'] = libdir
    try:
        out = subprocess.run(['pkg-config'] + list(args), check=True, env=env,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return ' '.join(out.split())


class Writer:
    def __init__(self):
        self.lines = []

    def line(self, text=''):
        self.lines.append(text)

    def var(self, name, value, indent=''):
        self.line('%s%s = %s' % (indent, name, value))

    def rule(self, name, command, description=None, **extra):
        self.line('rule ' + name)
        self.var('command', command, '  ')
        if description:
            self.var('description', description, '  ')
        for key, value in extra.items():
            self.var(key, value, '  ')
        self.line()

    def build(self, outputs, rule, inputs=(), implicit=(), order_only=(),
              **variables):
        text = 'build %s: %s' % (' '.join(as_list(outputs)), rule)
        if inputs:
            text += ' ' + ' '.join(as_list(inputs))
        if implicit:
            text += ' | ' + ' '.join(as_list(implicit))
        if order_only:
            text += ' || ' + ' '.join(as_list(order_only))
        self.line(text)
        for key, value in variables.items():
            self.var(key, value, '  ')
        return as_list(outputs)


def as_list(x):
    return [x] if isinstance(x, str) else list(x)


def write_rules(n):
    n.rule('cc', '$cc -MMD -MF $out.d $cflags -c $in -o $out',
           'CC $out', depfile='$out.d', deps='gcc')
    n.rule('ar', 'rm -f $out && $ar crs $out $in', 'AR $out')
    n.rule('solink', '$cc -shared $cflags $ldflags -Wl,-soname,$soname -o $out $in $libs',
           'SO $out')
    n.rule('symlink', 'ln -sf $target $out', 'LN $out')
    n.rule('link', '$cc $cflags $ldflags -o $out $in $libs', 'LINK $out')
    n.rule('pc', "sed -e 's|@version@|%s|g' $in > $out" % VERSION, 'GEN $out')
    n.rule('configure', '$configure', 'CONFIGURE $out', generator='1',
           pool='console')


def write_library(n, shared):
    """npt/*.c + arch/*.c -> libnpt.a (and libnpt.so, npt.pc)."""
    objs = []
    for src in files('npt/*.c') + files('arch/*.c'):
        objs += n.build(obj(src), 'cc', src, cflags='$cflags $libcflags')
    n.line()
    out = n.build('$builddir/libnpt.a', 'ar', objs)
    if shared:
        real = 'libnpt.so.' + VERSION
        out += n.build('$builddir/' + real, 'solink', objs, soname=SONAME)
        out += n.build('$builddir/' + SONAME, 'symlink', '$builddir/' + real,
                       target=real)
        out += n.build('$builddir/libnpt.so', 'symlink', '$builddir/' + SONAME,
                       target=SONAME)
        out += n.build('$builddir/npt.pc', 'pc', 'npt.pc.in')
    n.line()
    return out


def write_user(n):
    """user/*.c -> libnpt_user.a: the ready allocators of npt_user.h."""
    objs = []
    for src in files('user/*.c'):
        objs += n.build(obj(src), 'cc', src)
    out = n.build('$builddir/libnpt_user.a', 'ar', objs)
    n.line()
    return out


def write_tests(n, check_cflags, check_libs, host):
    """tests/test_*.c -> $builddir/tests/test_*; tests/test_*.sh run as is
    (host trees only)."""
    tcflags = '$cflags -Itests/lib -Iuser ' + check_cflags
    helpers = []
    for src in files('tests/lib/*.c'):
        helpers += n.build(obj(src), 'cc', src, cflags=tcflags)
    programs = []
    for src in files('tests/test_*.c'):
        if not host and src in HOST_ONLY_TESTS:
            continue
        o = n.build(obj(src), 'cc', src, cflags=tcflags)
        programs += n.build('$builddir/tests/' + stem(src), 'link',
                            o + helpers + ['$builddir/libnpt_user.a',
                                           '$builddir/libnpt.a'],
                            libs='$libs ' + check_libs)
    n.line()
    return programs, files('tests/test_*.sh') if host else []


def write_fs_tests(n):
    """tests/fs: a C library of its own (startup, raw system calls, stdio,
    malloc, a libcheck work-alike; memset, memcpy and memchr are the kernel
    string functions of hv/common/string.c) and the engine tests linked
    against it and the freestanding libnpt.a, with no other library at all."""
    fcflags = '$cflags -Itests/fs/include -Itests/lib -Iuser -DNPT_FS_HARNESS'
    rt = []
    for src in files('tests/fs/*.c') + ['hv/common/string.c']:
        rt += n.build(obj(src), 'cc', src, cflags=fcflags)
    helpers = []
    for src in ['user/frames.c', 'tests/lib/testmm.c', 'tests/lib/model.c',
                'tests/lib/tutil.c', 'tests/lib/invariants.c']:
        helpers += n.build(obj(src), 'cc', src, cflags=fcflags)
    programs = []
    for name in FS_TESTS:
        src = 'tests/%s.c' % name
        o = n.build(obj(src), 'cc', src, cflags=fcflags)
        programs += n.build('$builddir/tests/' + name, 'ldfs',
                            o + helpers + rt + ['$builddir/libnpt.a'])
    n.line()
    return programs


# The engine tests the no-libc harness runs (tests/fs); its libcheck
# work-alike runs them in one process, stopping at the first failure.
FS_TESTS = ['test_random', 'test_api', 'test_region', 'test_nomem',
            'test_badinput', 'test_inject']


def write_bench(n, mode):
    """bench/NAME.c -> $builddir/bench/NAME, run by `ninja bench` in release."""
    programs = []
    for src in files('bench/*.c'):
        programs += n.build('$builddir/bench/' + stem(src), 'link',
                            n.build(obj(src), 'cc', src) +
                            ['$builddir/libnpt.a'], libs='$libs -lm')
    n.build('bench-build', 'phony', programs)
    n.line()
    # `bench` names the folder too, which would make a plain edge look up to
    # date: the work is done by bench-run, which never exists.
    if mode == 'release':
        n.rule('bench', 'scripts/bench.sh --run $in', 'BENCH', pool='console')
        n.build('bench-run', 'bench', programs)
    else:
        n.rule('bench', 'CC=$cc scripts/bench.sh', 'BENCH (release build)',
               pool='console')
        n.build('bench-run', 'bench')
    n.build('bench', 'phony', 'bench-run')
    n.line()


# ---- vmm and guests ---------------------------------------------------------
# One function per guest family; add e.g. aarch64/riscv stubs beside x86.

# The x86 stub's kernel half (guest/x86/kernel.c) and what it links: npt
# compiled the way a kernel compiles it, and the string functions it needs.
GUEST_KERNEL = ['guest/x86/kernel.c', 'user/frames.c', 'hv/common/string.c']
GUEST_CFLAGS = ('-std=c11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-builtin '
                '-fno-stack-protector -fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only '
                '-fno-asynchronous-unwind-tables -DNPT_SIMD=0 -Inpt -Iuser -Iguest/x86')


def write_guest_x86(n):
    """guest/x86/NAME.S -> $builddir/guest/x86/NAME.bin (flat binary, loaded
    at 0x1000 unless guest/x86/NAME.ld says otherwise). The stub also links
    GUEST_KERNEL and the engine, compiled freestanding with the tree's
    compiler: it builds its own page tables with npt."""
    n.rule('as_x86', '$cc -MMD -MF $out.d -c $in -o $out', 'AS $out',
           depfile='$out.d', deps='gcc')
    n.rule('cc_guest', '$cc -MMD -MF $out.d %s -c $in -o $out' % GUEST_CFLAGS, 'CC $out',
           depfile='$out.d', deps='gcc')
    kernel = []
    for src in GUEST_KERNEL + files('npt/*.c') + files('arch/*.c'):
        kernel += n.build('$builddir/guest/obj/%s.o' % os.path.splitext(src)[0],
                          'cc_guest', src)
    n.rule('ld_x86', 'ld -nostdlib -static -z noexecstack $ldargs -o $out $in',
           'LD $out')
    n.rule('flat', 'objcopy -O binary $in $out', 'OBJCOPY $out')
    bins = []
    for src in files('guest/x86/*.S'):
        name = stem(src)
        script = 'guest/x86/%s.ld' % name
        if os.path.exists(script):
            ldargs, implicit = '-T ' + script, [script]
        else:
            ldargs, implicit = '-Ttext=0x1000', []
        elf = n.build('$builddir/guest/x86/%s.elf' % name, 'ld_x86',
                      n.build(obj(src), 'as_x86', src) + (kernel if name == 'stub' else []),
                      implicit, ldargs=ldargs)
        bins += n.build('$builddir/guest/x86/%s.bin' % name, 'flat', elf)
    n.line()
    return bins


def write_vmm(n, guests):
    """vmm/*.c -> $builddir/vmm, linked with the static library."""
    srcs = files('vmm/*.c')
    if not srcs:
        return []
    vcflags = '$cflags -Ivmm -Iuser -DNPT_BUILDDIR=\\"$builddir\\"'
    objs = []
    for src in srcs:
        objs += n.build(obj(src), 'cc', src, cflags=vcflags)
    vmm = n.build('$builddir/vmm', 'link',
                  objs + ['$builddir/libnpt_user.a', '$builddir/libnpt.a'],
                  order_only=guests, libs='$libs -lm -pthread')
    n.line()
    return vmm


def write_guest_qemu(n):
    """guest/{aarch64,riscv}/stub.S -> $builddir/guest/<arch>/stub.elf: the
    bare-metal probe stubs tests/test_qemu runs under QEMU, assembled with
    clang --target=... and linked with ld.lld (guest/<arch>/stub.ld). Without
    clang or ld.lld nothing is built and the test skips."""
    targets = {'aarch64': 'aarch64-none-elf',
               'riscv': 'riscv64-unknown-elf -march=rv64imac -mabi=lp64 -mno-relax'}
    if not (shutil.which('clang') and shutil.which('ld.lld')):
        return []
    n.rule('as_qemu_guest',
           'clang --target=$target -MMD -MF $out.d -c $in -o $out',
           'AS $out', depfile='$out.d', deps='gcc')
    n.rule('ld_qemu_guest', 'ld.lld -T $script -o $out $in', 'LD $out')
    elfs = []
    for arch, target in sorted(targets.items()):
        src, script = 'guest/%s/stub.S' % arch, 'guest/%s/stub.ld' % arch
        if not (os.path.exists(src) and os.path.exists(script)):
            continue
        o = n.build(obj(src), 'as_qemu_guest', src, target=target)
        elfs += n.build('$builddir/guest/%s/stub.elf' % arch, 'ld_qemu_guest',
                        o, implicit=[script], script=script)
    n.line()
    return elfs


def write_inspect(n):
    """inspect/*.c -> $builddir/npt, the table inspector (installed as npt)."""
    objs = []
    for src in files('inspect/*.c'):
        objs += n.build(obj(src), 'cc', src)
    out = n.build('$builddir/npt', 'link', objs + ['$builddir/libnpt.a'])
    n.line()
    return out


def write_hv(n):
    """hv/: bare-metal hypervisors (hv/common/ and one folder per
    architecture) with npt/ and arch/ compiled in as a kernel compiles them
    (the freestanding flags, clang-19 for the bare-metal target), linked by
    ld.lld-19 (hv/ARCH/hv.ld); tests/test_hv_*.sh run them under QEMU.
    x86: hv.bin (4-level paging) and hv5.bin (5-level), flat multiboot
    images; aarch64 and riscv: hv.elf. Without clang-19 or ld.lld-19 nothing is
    built and the tests skip."""
    if not (shutil.which(CROSS_CC) and shutil.which(CROSS_LD) and
            shutil.which('llvm-objcopy-19')):
        return []
    n.rule('hvcc', '%s -MMD -MF $out.d $hvcflags -c $in -o $out' % CROSS_CC, 'HVCC $out',
           depfile='$out.d', deps='gcc')
    n.rule('hvld', '%s -static -nostdlib -T $script -o $out $in' % CROSS_LD, 'HVLD $out')
    n.rule('hvbin', 'llvm-objcopy-19 -O binary $in $out', 'OBJCOPY $out')
    out = []
    # variant: (image, -D flags, flat binary?)
    hvs = {'x86': ('x86_64', [('hv', '', True), ('hv5', '-DHV_LA57', True)]),
           'aarch64': ('aarch64', [('hv', '', False)]),
           'riscv': ('riscv64', [('hv', '', False)])}
    for arch, (target, variants) in sorted(hvs.items()):
        if not files('hv/%s/*.c' % arch):
            continue
        flags = ('-std=c11 -Wall -Wextra -Werror -O2 -g -Inpt -Ihv/common -Ihv/%s '
                 '--target=%s %s %s -DNPT_SIMD=0' % (arch, TARGETS[target]['none'],
                                                     FREESTANDING, TARGETS[target]['kernel']))
        engine = []
        for src in files('npt/*.c') + files('arch/*.c') + files('hv/common/*.c'):
            engine += n.build('$builddir/hv/obj/%s/%s.o' % (arch, os.path.splitext(src)[0]),
                              'hvcc', src, hvcflags=flags)
        for name, defs, flat in variants:
            objs = []
            for src in files('hv/%s/*.c' % arch) + files('hv/%s/*.S' % arch):
                objs += n.build('$builddir/hv/obj/%s/%s.o' % (name, os.path.splitext(src)[0]),
                                'hvcc', src, hvcflags=flags + ' ' + defs)
            script = 'hv/%s/hv.ld' % arch
            elf = n.build('$builddir/hv/%s/%s.elf' % (arch, name), 'hvld', objs + engine,
                          implicit=[script], script=script)
            out += n.build('$builddir/hv/%s/%s.bin' % (arch, name), 'hvbin', elf) if flat else elf
    n.line()
    return out


def write_vmm_and_guests(n):
    guests = write_guest_x86(n)
    return write_vmm(n, guests) + guests + write_guest_qemu(n)


# ---- fuzzing ------------------------------------------------------------------

def write_fuzz(n):
    """tests/fuzz/fuzz_NAME.c: one libFuzzer target each, linked with the
    other tests/fuzz/*.c (what the targets and the replay tests share), the
    engine and the test helpers, built with clang -fsanitize=fuzzer,address,
    undefined into $builddir/fuzz/; `ninja fuzz` runs each for
    $NPT_FUZZ_SECONDS (default 60) seconds (scripts/fuzz.sh). Not part of
    `all`: it needs clang with libFuzzer."""
    n.var('fuzzcc', 'clang')
    n.var('fuzzflags', '-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g '
          '-fno-omit-frame-pointer -fsanitize=address,undefined '
          '-fno-sanitize-recover=all -Inpt -Itests/lib -Iuser -DNPT_SIMD=1')
    n.rule('fuzzcc', '$fuzzcc -MMD -MF $out.d $fuzzflags $san -c $in -o $out',
           'FUZZCC $out', depfile='$out.d', deps='gcc')
    n.rule('fuzzlink', '$fuzzcc $fuzzflags -fsanitize=fuzzer -o $out $in -lpthread',
           'FUZZLINK $out')

    def fuzz_obj(src):
        return n.build('$builddir/fuzz/obj/' + os.path.splitext(src)[0] + '.o',
                       'fuzzcc', src, san='-fsanitize=fuzzer-no-link')
    targets = files('tests/fuzz/fuzz_*.c')
    common = []
    helpers = ['user/frames.c', 'tests/lib/testmm.c', 'tests/lib/model.c',
               'tests/lib/invariants.c']
    for src in (files('npt/*.c') + files('arch/*.c') +
                [h for h in helpers if os.path.exists(h)] +
                [f for f in files('tests/fuzz/*.c') if f not in targets]):
        common += fuzz_obj(src)
    exes = []
    for src in targets:
        exes += n.build('$builddir/fuzz/' + stem(src), 'fuzzlink',
                        fuzz_obj(src) + common)
    n.rule('fuzzrun', 'scripts/fuzz.sh --run $in', 'FUZZ', pool='console')
    n.build('fuzz-run', 'fuzzrun', exes)
    n.build('fuzz', 'phony', 'fuzz-run')
    n.line()


# ---- everything -------------------------------------------------------------

def write_install(n):
    # a release build of its own (build-release/), whatever this tree's mode
    n.rule('install', 'PREFIX=$prefix scripts/install.sh', 'INSTALL $prefix',
           pool='console')
    n.build('install', 'install')
    n.line()


def check_flags(args, tgt):
    """libcheck for the tree's target: pkg-config on the host, Debian
    multiarch for aarch64, the copy scripts/cross-check.sh builds from
    Debian's source package for riscv64 (Debian 12 has no riscv64 port)."""
    if args.target == host_target():
        c, l = pkg_config('--cflags', 'check'), pkg_config('--libs', 'check')
        return (c, l) if c is not None and l is not None else ('', CHECK_FALLBACK)
    libdir = '/usr/lib/%s/pkgconfig' % tgt['linux']
    c = pkg_config('--cflags', 'check', libdir=libdir)
    l = pkg_config('--static', '--libs', 'check', libdir=libdir)
    if c is not None and l is not None:
        return c, l
    prefix = args.check_prefix or 'build-deps/check-%s' % args.target
    return '-I%s/include' % prefix, '-L%s/lib -lcheck -lm -lrt -lpthread' % prefix


def generate(args, argv):
    tgt = TARGETS[args.target]
    host = args.target == host_target() and not args.freestanding
    cross = not host and not args.freestanding
    if cross and not tgt['linux']:
        sys.exit('configure.py: no Linux user space for %s here; use --freestanding'
                 % args.target)
    simd = args.simd or ('off' if args.freestanding else 'auto')
    cc = args.cc
    ldflags = ''
    if cc is None:
        if host:
            cc = 'cc'
        else:
            triple = tgt['none'] if args.freestanding else tgt['linux']
            cc = '%s --target=%s' % (CROSS_CC, triple)
    cflags = CFLAGS + ' ' + MODES[args.mode]
    # The library's own flags: vector code only when asked for, and the
    # kernel's code generation in a freestanding tree.
    # only npt.h's declarations are exported (its visibility pragma)
    libcflags = '-DNPT_SIMD=%d -fvisibility=hidden' % (simd == 'auto')
    if args.freestanding:
        cflags += ' ' + FREESTANDING + ' ' + tgt['kernel']
    else:
        cflags += ' -D_GNU_SOURCE -fPIC'
        if simd == 'off':
            libcflags += ' ' + tgt['novec']
        if cross:
            ldflags = '-fuse-ld=lld -static'
    if args.cflags:
        cflags += ' ' + args.cflags
    if args.ldflags:
        ldflags = (ldflags + ' ' + args.ldflags).strip()

    n = Writer()
    regen = ' '.join(['python3', 'configure.py'] +
                     [shlex.quote(a) for a in argv])
    n.line('# Generated by: ' + regen)
    n.line('# Do not edit: re-run that command (ninja does, when configure.py '
           'or a source folder changes).')
    n.line()
    n.line('ninja_required_version = 1.10')
    n.var('builddir', args.builddir)
    n.var('prefix', args.prefix)
    n.var('target', args.target)
    n.var('cc', cc)
    n.var('ar', 'ar' if host else 'llvm-ar-19')
    n.var('mode', args.mode)
    n.var('cflags', cflags)
    n.var('libcflags', libcflags)
    n.var('ldflags', ldflags)
    n.var('libs', '')
    n.var('runner', tgt['qemu'] if tgt['qemu'] and not host else '')
    n.var('configure', regen.replace('$', '$$'))
    n.line()
    write_rules(n)

    lib = write_library(n, shared=host)
    if not args.freestanding:
        lib += write_user(n)
    if args.freestanding:
        ldfs = CROSS_LD + ' -static -nostdlib -e _start'
        if args.target == 'loongarch64':
            ldfs += ' -z max-page-size=65536'  # qemu-loongarch64 maps 64K pages
        n.rule('ldfs', ldfs + ' -o $out $in', 'LD $out')
        programs, scripts, extra = write_fs_tests(n), [], []
    else:
        check_cflags, check_libs = check_flags(args, tgt)
        programs, scripts = write_tests(n, check_cflags, check_libs, host)
        extra = []
    if host:
        extra = write_vmm_and_guests(n) + write_inspect(n) + write_hv(n)
        write_bench(n, args.mode)
        write_fuzz(n)
        write_install(n)

    n.build('all', 'phony', lib + programs + extra)
    n.line()
    n.rule('test', 'NPT_TEST_RUNNER=$runner tests/run.sh $builddir $in',
           'TEST', pool='console')
    n.build('test', 'test', programs + scripts, order_only=['all'])
    n.line()
    deps = ['configure.py'] + [d for d in SOURCE_DIRS if os.path.isdir(d)]
    n.build(args.output, 'configure', implicit=deps)
    n.line()
    n.line('default all')
    return '\n'.join(n.lines) + '\n'


def main():
    p = argparse.ArgumentParser(description='Write build.ninja for npt.')
    p.add_argument('--cc', default=None,
                   help='C compiler (default: cc for the host, '
                        'clang-19 --target=... otherwise)')
    p.add_argument('--mode', default='debug', choices=sorted(MODES),
                   help='debug (-O1 -g), release (-O2 -g -DNDEBUG) or asan '
                        '(ASan + UBSan) (default: debug)')
    p.add_argument('--target', default=host_target(), choices=sorted(TARGETS),
                   help='architecture to build for (default: this machine)')
    p.add_argument('--freestanding', action='store_true',
                   help='build libnpt.a as kernel code: no libc headers, the '
                        "target's kernel code generation, and tests/fs")
    p.add_argument('--simd', choices=['auto', 'off'], default=None,
                   help='vector code in the library: auto (run-time choice, '
                        'the user-space default) or off (no FP/vector '
                        'instruction; the freestanding default)')
    p.add_argument('--cflags', default='',
                   help='more compiler flags (for example a kernel\'s own)')
    p.add_argument('--ldflags', default='',
                   help='more linker flags (for example a distribution\'s '
                        'hardening flags)')
    p.add_argument('--check-prefix', default=None,
                   help='where libcheck for a cross target is (default: '
                        'multiarch, else build-deps/check-TARGET)')
    p.add_argument('--builddir', default='build',
                   help='where outputs go (default: build)')
    p.add_argument('--prefix', default='/usr/local',
                   help='install prefix (default: /usr/local)')
    p.add_argument('-o', '--output', default='build.ninja',
                   help='file to write (default: build.ninja)')
    p.add_argument('--stdout', action='store_true',
                   help='print the file instead of writing it (the file still '
                        'names the --output path as its own; used by the '
                        'freshness check)')
    argv = sys.argv[1:]
    args = p.parse_args(argv)
    if not os.path.isfile('configure.py') or not os.path.isdir('npt'):
        sys.exit('configure.py: run me from the top of the source tree')
    text = generate(args, [a for a in argv if a != '--stdout'])
    if args.stdout:
        sys.stdout.write(text)
        return
    output = args.output
    if output == 'build.ninja' and '-o' not in argv and not any(
            a.startswith('--output') for a in argv) and argv:
        # the committed build.ninja is the default configuration's: any
        # other goes to its own build tree
        output = args.output = os.path.join(args.builddir, 'build.ninja')
        text = generate(args, argv + ['-o', output])
        print('configure.py: wrote %s (ninja -f %s)' % (output, output))
    if os.path.dirname(output):
        os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
