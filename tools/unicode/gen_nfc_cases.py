#!/usr/bin/env python3
"""Generates tests/fixtures/text/nfc_cases.json: NFC test vectors from Python's unicodedata (stdlib only).

Usage: python3 tools/unicode/gen_nfc_cases.py > tests/fixtures/text/nfc_cases.json
"""
import json
import random
import sys
import unicodedata as ud

cases = []
seen = set()


def add(s):
    if s not in seen:
        seen.add(s)
        cases.append([s, ud.normalize("NFC", s)])


# Every character with a canonical decomposition, as is and fully decomposed.
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    d = ud.decomposition(chr(cp))
    if d and not d.startswith("<"):
        add(chr(cp))
        add(ud.normalize("NFD", chr(cp)))

# Hangul syllables (algorithmic), decomposed and as jamo sequences with and without trailing consonants.
rng = random.Random(20261126)
for _ in range(200):
    s = chr(rng.randrange(0xAC00, 0xAC00 + 11172))
    add(s)
    add(ud.normalize("NFD", s))
add("\u1100\u1161\u11a8\u11a8")
add("\u1100\u0301\u1161")

# Random mixes of starters and combining marks of different classes: reordering, blocking, exclusions.
starters = list("aeiouAEOUnsczCSZyY") + ["\u03b1", "\u03c9", "\u0399", "\u0438", "\u0415", "\u0915", "\u0b47", "\u0dd9",
                                        "\u1100", "\u1161", "\uac00", "\u00e9", "\u00c5", "\u212b", "\u2126", " ", "<", ">", "="]
marks = ["\u0300", "\u0301", "\u0302", "\u0303", "\u0308", "\u030a", "\u030c", "\u0323", "\u0327", "\u0328", "\u031b",
         "\u0345", "\u0338", "\u05b0", "\u093c", "\u0f71", "\u0f72", "\u0f74", "\u0b3e", "\u0b56", "\u0dca", "\u0dcf",
         "\u11a8", "\u0344", "\u0340", "\u0341"]
for _ in range(1500):
    n = rng.randrange(1, 8)
    add("".join(rng.choice(starters) if rng.random() < 0.4 else rng.choice(marks) for _ in range(n)))

# Text-like strings.
for s in ["cafe\u0301", "na\u0308ive re\u0301sume\u0301", "\U0001d15e\U0001d165", "\U0001f431\u0301", "a\u0301\U0001f680",
          "\u2260\u0338", "<|im_end|>\u0338", "\u00e9t\u00e9", "x" * 3 + "\u0327\u0301"]:
    add(s)

json.dump({"description": f"NFC vectors from Python {sys.version.split()[0]} unicodedata (Unicode {ud.unidata_version}): [input, nfc]",
           "cases": cases}, sys.stdout, ensure_ascii=True, separators=(",", ":"))
sys.stdout.write("\n")
