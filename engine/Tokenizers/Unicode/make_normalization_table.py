"""Writes normalization.txt, the table UnicodeNormalization.cs reads, from the Unicode Character Database.

Usage: python3 make_normalization_table.py /usr/share/unicode   (Debian's unicode-data package: UnicodeData.txt,
DerivedNormalizationProps.txt). Lines: "c FIRST LAST CLASS" canonical combining classes, "d CP A [B]" canonical and
"k CP X..." compatibility decompositions (one level, Hangul syllables excluded: they are algorithmic), "x FIRST LAST"
Full_Composition_Exclusion ranges; code points and classes in hexadecimal.
"""
import os
import sys

ucd = sys.argv[1]
lines = []
ccc_runs = []
for line in open(os.path.join(ucd, 'UnicodeData.txt')):
    fields = line.split(';')
    cp, name, ccc, decomposition = int(fields[0], 16), fields[1], int(fields[3]), fields[5]
    if ccc:
        if ccc_runs and ccc_runs[-1][1] == cp - 1 and ccc_runs[-1][2] == ccc:
            ccc_runs[-1][1] = cp
        else:
            ccc_runs.append([cp, cp, ccc])
    if decomposition and not (0xAC00 <= cp <= 0xD7A3):
        parts = decomposition.split()
        kind = 'k' if parts[0].startswith('<') else 'd'
        if kind == 'k':
            parts = parts[1:]
        lines.append(f'{kind} {cp:04X} ' + ' '.join(parts))
for first, last, ccc in ccc_runs:
    lines.append(f'c {first:04X} {last:04X} {ccc:X}')
for line in open(os.path.join(ucd, 'DerivedNormalizationProps.txt')):
    body = line.split('#')[0].strip()
    if not body:
        continue
    fields = [f.strip() for f in body.split(';')]
    if fields[1] == 'Full_Composition_Exclusion':
        first, _, last = fields[0].partition('..')
        lines.append(f'x {first} {last or first}')
unicode_version = next(l for l in open(os.path.join(ucd, 'DerivedNormalizationProps.txt')) if l.startswith('# DerivedNormalizationProps-'))
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'normalization.txt'), 'w') as out:
    out.write(f'# {unicode_version[2:].strip()} via make_normalization_table.py\n')
    out.write('\n'.join(lines) + '\n')
