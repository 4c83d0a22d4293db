#!/usr/bin/env python3
"""Replace (or append) one marked section of a Markdown file with stdin.

    python3 bench/put_section.py docs/RESULTS.md python < section.md

The section sits between <!-- NAME:begin --> and <!-- NAME:end -->, so each
bench script rewrites only its own part of docs/RESULTS.md.
"""
import sys

path, name = sys.argv[1], sys.argv[2]
body = sys.stdin.read().rstrip("\n") + "\n"
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
try:
    text = open(path, encoding="utf-8").read()
except FileNotFoundError:
    text = "# Results\n\nEach section is written by the bench script it names.\n"
block = f"{begin}\n{body}{end}"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = head + block + tail
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.write(text)
import os
os.replace(path + ".tmp", path)
