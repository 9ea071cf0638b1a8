"""One marked section of a markdown file (BENCHMARKS.md), replaced in place: what bench_report.py (results),
tools/bench/limit/limit_report.py (CPU limit) and gpu_report.py (GPU run) write. Standard library only."""
import os


def replace_marked_section(path, begin, end, heading, body):
    """Replaces the text between the `begin` and `end` markers of PATH with BODY; when the markers are absent,
    appends them under a '## HEADING' at the end. Written through a temporary file and a rename."""
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n\n"
    section = f"{begin}\n{body}{end}"
    if begin in text and end in text and text.index(begin) < text.index(end):
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n## {heading}\n\n" + section + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
