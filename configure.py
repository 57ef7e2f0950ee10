#!/usr/bin/env python3
"""Writes build.ninja for npt.

Run it from the top of the source tree:

    python3 configure.py [--cc CC] [--mode debug|release|asan]
                         [--builddir DIR] [--prefix DIR] [-o FILE]

Sources are found by glob, so a new file only needs a re-run (ninja re-runs
this script itself when configure.py or a source folder changes).
"""

import argparse
import glob
import os
import shlex
import subprocess
import sys

MODES = {
    'debug': '-O1 -g',
    'release': '-O2 -g -DNDEBUG',
    'asan': '-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer '
            '-fno-sanitize-recover=all',
}
CFLAGS = '-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Inpt -fPIC'
CHECK_FALLBACK = '-lcheck -lsubunit -lm -lrt -lpthread'
# Folders whose contents decide what gets built: adding or removing a file in
# one of them makes ninja re-run configure.py. Not bench/: its name is taken
# by the `bench` target (and scripts/bench.sh re-runs configure.py anyway).
SOURCE_DIRS = ['npt', 'arch', 'tests', 'tests/lib', 'tests/fuzz', 'vmm', 'guest',
               'guest/x86', 'guest/aarch64', 'guest/riscv']


def files(pattern):
    return sorted(glob.glob(pattern))


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def obj(path):
    return '$builddir/obj/' + os.path.splitext(path)[0] + '.o'


def pkg_config(*args):
    try:
        out = subprocess.run(['pkg-config'] + list(args), check=True,
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
    n.rule('ar', 'rm -f $out && ar crs $out $in', 'AR $out')
    n.rule('solink', '$cc -shared $cflags -o $out $in $libs', 'SO $out')
    n.rule('link', '$cc $cflags -o $out $in $libs', 'LINK $out')
    n.rule('pc', "sed -e 's|@prefix@|$prefix|g' $in > $out", 'GEN $out')
    n.rule('configure', '$configure', 'CONFIGURE $out', generator='1',
           pool='console')


def write_library(n):
    """npt/*.c + arch/*.c -> libnpt.a, libnpt.so, npt.pc."""
    objs = []
    for src in files('npt/*.c') + files('arch/*.c'):
        objs += n.build(obj(src), 'cc', src)
    n.line()
    lib = n.build('$builddir/libnpt.a', 'ar', objs)
    so = n.build('$builddir/libnpt.so', 'solink', objs)
    pc = n.build('$builddir/npt.pc', 'pc', 'npt.pc.in')
    n.line()
    return lib + so + pc


def write_tests(n, check_cflags, check_libs):
    """tests/test_*.c -> $builddir/tests/test_*; tests/test_*.sh run as is."""
    tcflags = '$cflags -Itests/lib ' + check_cflags
    helpers = []
    for src in files('tests/lib/*.c'):
        helpers += n.build(obj(src), 'cc', src, cflags=tcflags)
    programs = []
    for src in files('tests/test_*.c'):
        o = n.build(obj(src), 'cc', src, cflags=tcflags)
        programs += n.build('$builddir/tests/' + stem(src), 'link',
                            o + helpers + ['$builddir/libnpt.a'],
                            libs='$libs ' + check_libs)
    n.line()
    return programs, files('tests/test_*.sh')


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

def write_guest_x86(n):
    """guest/x86/NAME.S -> $builddir/guest/x86/NAME.bin (flat binary, loaded
    at 0x1000 unless guest/x86/NAME.ld says otherwise)."""
    n.rule('as_x86', '$cc -MMD -MF $out.d -c $in -o $out', 'AS $out',
           depfile='$out.d', deps='gcc')
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
                      n.build(obj(src), 'as_x86', src), implicit,
                      ldargs=ldargs)
        bins += n.build('$builddir/guest/x86/%s.bin' % name, 'flat', elf)
    n.line()
    return bins


def write_vmm(n, guests):
    """vmm/*.c -> $builddir/vmm, linked with the static library."""
    srcs = files('vmm/*.c')
    if not srcs:
        return []
    vcflags = '$cflags -Ivmm -DNPT_BUILDDIR=\\"$builddir\\"'
    objs = []
    for src in srcs:
        objs += n.build(obj(src), 'cc', src, cflags=vcflags)
    vmm = n.build('$builddir/vmm', 'link', objs + ['$builddir/libnpt.a'],
                  order_only=guests, libs='$libs -lm -pthread')
    n.line()
    return vmm


def write_guest_qemu(n):
    """guest/{aarch64,riscv}/stub.S -> $builddir/guest/<arch>/stub.elf: the
    bare-metal probe stubs tests/test_qemu runs under QEMU, assembled with
    clang --target=... and linked with ld.lld (guest/<arch>/stub.ld). Without
    clang or ld.lld nothing is built and the test skips."""
    import shutil
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


def write_vmm_and_guests(n):
    guests = write_guest_x86(n)
    return write_vmm(n, guests) + guests + write_guest_qemu(n)


# ---- fuzzing ------------------------------------------------------------------

def write_fuzz(n):
    """tests/fuzz/*.c (the libFuzzer target and its driver), the engine and
    the test helpers it needs, built with clang -fsanitize=fuzzer,address,
    undefined into $builddir/fuzz/; `ninja fuzz` runs it for
    $NPT_FUZZ_SECONDS (default 60) seconds (scripts/fuzz.sh). Not part of
    `all`: it needs clang with libFuzzer."""
    n.var('fuzzcc', 'clang')
    n.var('fuzzflags', '-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g '
          '-fno-omit-frame-pointer -fsanitize=address,undefined '
          '-fno-sanitize-recover=all -Inpt -Itests/lib')
    n.rule('fuzzcc', '$fuzzcc -MMD -MF $out.d $fuzzflags $san -c $in -o $out',
           'FUZZCC $out', depfile='$out.d', deps='gcc')
    n.rule('fuzzlink', '$fuzzcc $fuzzflags -fsanitize=fuzzer -o $out $in -lpthread',
           'FUZZLINK $out')
    objs = []
    helpers = ['tests/lib/testmm.c', 'tests/lib/model.c',
               'tests/lib/invariants.c']
    for src in (files('npt/*.c') + files('arch/*.c') +
                [h for h in helpers if os.path.exists(h)] +
                files('tests/fuzz/*.c')):
        objs += n.build('$builddir/fuzz/obj/' + os.path.splitext(src)[0] +
                        '.o', 'fuzzcc', src, san='-fsanitize=fuzzer-no-link')
    exe = n.build('$builddir/fuzz/fuzz_npt', 'fuzzlink', objs)
    n.rule('fuzzrun', 'scripts/fuzz.sh --run $in', 'FUZZ', pool='console')
    n.build('fuzz-run', 'fuzzrun', exe)
    n.build('fuzz', 'phony', 'fuzz-run')
    n.line()


# ---- everything -------------------------------------------------------------

def write_install(n):
    n.rule('install', 'scripts/install.sh $builddir $prefix',
           'INSTALL $prefix', pool='console')
    n.build('install', 'install', ['$builddir/libnpt.a', '$builddir/libnpt.so',
                                   '$builddir/npt.pc', 'npt/npt.h'])
    n.line()


def generate(args, argv):
    cflags = MODES[args.mode]
    check_cflags = pkg_config('--cflags', 'check')
    check_libs = pkg_config('--libs', 'check')
    if check_cflags is None or check_libs is None:
        check_cflags, check_libs = '', CHECK_FALLBACK

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
    n.var('cc', args.cc)
    n.var('mode', args.mode)
    n.var('cflags', CFLAGS + ' ' + cflags)
    n.var('libs', '')
    n.var('configure', regen.replace('$', '$$'))
    n.line()
    write_rules(n)

    lib = write_library(n)
    programs, scripts = write_tests(n, check_cflags, check_libs)
    extra = write_vmm_and_guests(n)
    write_bench(n, args.mode)
    write_fuzz(n)
    write_install(n)

    n.build('all', 'phony', lib + programs + extra)
    n.line()
    n.rule('test', 'tests/run.sh $builddir $in', 'TEST', pool='console')
    n.build('test', 'test', programs + scripts, order_only=['all'])
    n.line()
    deps = ['configure.py'] + [d for d in SOURCE_DIRS if os.path.isdir(d)]
    n.build(args.output, 'configure', implicit=deps)
    n.line()
    n.line('default all')
    return '\n'.join(n.lines) + '\n'


def main():
    p = argparse.ArgumentParser(description='Write build.ninja for npt.')
    p.add_argument('--cc', default='cc', help='C compiler (default: cc)')
    p.add_argument('--mode', default='debug', choices=sorted(MODES),
                   help='debug (-O1 -g), release (-O2 -g -DNDEBUG) or asan '
                        '(ASan + UBSan) (default: debug)')
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
    if os.path.dirname(args.output):
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
