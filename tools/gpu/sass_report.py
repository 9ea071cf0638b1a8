#!/usr/bin/env python3
"""What the CUDA kernels compile to: per kernel, registers, spills, stack, shared memory and the SASS
instruction mix of the whole kernel and of its outermost loop (for a persistent kernel, the step loop).

    tools/gpu/sass_report.py                       # sm_90, every kernel of kernels/ and src/cuda/, a markdown report
    tools/gpu/sass_report.py --arch 90 --arch 86   # more architectures
    tools/gpu/sass_report.py --write docs/profiling.md   # also replaces the report's marked section there
    tools/gpu/sass_report.py --fail-on-spill       # exit 1 when a kernel spills (CI), naming it

How: each .cu file with a __global__ is compiled again with its own command from BUILD/compile_commands.json
(BUILD defaults to build/, the nvcc preset; it is configured when absent), for one architecture, to a cubin,
with ptxas's resource report (-Xptxas=-v: registers, spill stores and loads, stack frame, static shared
memory). The toolkit here has no cuobjdump, so PyPI's nvidia-cuda-cuobjdump is installed into .venv-sass/
(once) and disassembles the cubin. Counts are static (instructions in the code, not executed ones). Dynamic
shared memory is not in the binary: the launch code sets it (docs/cuda.md gives each kernel's).
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from marked_section import replace_marked_section  # noqa: E402

BEGIN = "<!-- sass_report: begin -->"
END = "<!-- sass_report: end -->"

# Instruction classes of the mix, by base opcode (the opcode before its first '.').
CLASSES = [
    ("FFMA", {"FFMA"}), ("FADD/FMUL", {"FADD", "FMUL"}), ("HFMA2", {"HFMA2", "HADD2", "HMUL2"}),
    ("HMMA", {"HMMA", "HGMMA", "IMMA"}), ("LDS", {"LDS", "LDSM"}), ("STS", {"STS"}),
    ("LDG", {"LDG"}), ("LDGSTS", {"LDGSTS", "UBLKCP", "UTMALDG"}), ("STG", {"STG"}), ("RED/ATOM", {"RED", "ATOM", "ATOMS", "ATOMG"}),
    ("LDL/STL", {"LDL", "STL"}), ("BAR", {"BAR", "SYNCS", "WARPSYNC"}), ("SHFL", {"SHFL"}), ("MUFU", {"MUFU"}),
]
SASS_LINE = re.compile(r"^\s+/\*([0-9a-f]{4,})\*/\s+(.*?);")
FUNCTION = re.compile(r"^\s+Function : (\S+)")
PTXAS_ENTRY = re.compile(r"Compiling entry function '(\S+)' for '(sm_\d+a?)'")
PTXAS_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
PTXAS_USED = re.compile(r"Used (\d+) registers(?:.*?, (\d+) bytes smem)?")


def sass_tools():
    """cuobjdump from the toolkit when it has one, else from PyPI in .venv-sass/ (installed once)."""
    for d in ("/usr/local/cuda/bin",):
        if os.access(f"{d}/cuobjdump", os.X_OK):
            return f"{d}/cuobjdump"
    venv = ROOT / ".venv-sass"
    found = list(venv.glob("lib/python3*/site-packages/nvidia/*/bin/cuobjdump"))
    if not found:
        print("sass_report: installing nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm into .venv-sass/",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "--disable-pip-version-check",
                        "nvidia-cuda-cuobjdump", "nvidia-cuda-nvdisasm"], check=True)
        found = list(venv.glob("lib/python3*/site-packages/nvidia/*/bin/cuobjdump"))
    if not found:
        sys.exit("sass_report: no cuobjdump in .venv-sass/ after installing nvidia-cuda-cuobjdump")
    return str(found[0])


def compile_commands(build):
    path = build / "compile_commands.json"
    if not path.exists():
        print(f"sass_report: configuring {build} (the nvcc preset)", file=sys.stderr)
        subprocess.run(["cmake", "--preset", "default", "-B", str(build)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    entries = json.loads(path.read_text())
    return {os.path.normpath(os.path.join(e["directory"], e["file"])): e for e in entries}


def cubin_command(entry, arch, out):
    """The file's own nvcc command, for one architecture, to a cubin, with ptxas's resource report."""
    args = shlex.split(entry["command"])
    if "nvcc" not in os.path.basename(args[0]):
        raise RuntimeError(f"{entry['file']} is not compiled by nvcc in this build (an emulated build?)")
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c"):
            skip = a == "-o"
            continue
        if a.startswith("--generate-code") or a.startswith("-gencode") or a.startswith("-arch"):
            continue
        kept.append(a)
    return kept + [f"-arch=sm_{arch}", "-cubin", "-Xptxas=-v", "-o", out]


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    pretty = {}
    for mangled, text in zip(names, out.splitlines()):
        text = re.sub(r"\(anonymous namespace\)::|logreg::kernels::|logreg::|cub::CUB_\w+::detail::", "", text)
        text = re.sub(r"^void ", "", re.sub(r"\(.*\)$", "", text))  # no return type, no parameter list
        text = re.sub(r"\w+::policy_hub<.*>::policy\d+, ", "", text)  # CUB's tuning policy, the same for all
        pretty[mangled] = text
    return pretty


def parse_ptxas(stderr):
    """{kernel: {"regs", "stack", "spill_stores", "spill_loads", "smem"}} from ptxas -v."""
    info, current = {}, None
    for line in stderr.splitlines():
        m = PTXAS_ENTRY.search(line)
        if m:
            current = m.group(1)
            info[current] = {"regs": 0, "stack": 0, "spill_stores": 0, "spill_loads": 0, "smem": 0}
            continue
        if current is None:
            continue
        m = PTXAS_FRAME.search(line)
        if m:
            info[current].update(stack=int(m.group(1)), spill_stores=int(m.group(2)), spill_loads=int(m.group(3)))
        m = PTXAS_USED.search(line)
        if m:
            info[current]["regs"] = int(m.group(1))
            info[current]["smem"] = int(m.group(2) or 0)
    return info


def parse_sass(text):
    """{kernel: [(address, opcode, operands)]} from cuobjdump -sass."""
    kernels, current = {}, None
    for line in text.splitlines():
        m = FUNCTION.match(line)
        if m:
            current = m.group(1)
            kernels[current] = []
            continue
        m = SASS_LINE.match(line)
        if m and current is not None:
            words = m.group(2).split()
            if words and words[0].startswith("@"):
                words = words[1:]  # the predicate
            if words:
                kernels[current].append((int(m.group(1), 16), words[0], " ".join(words[1:])))
    return kernels


def outermost_loop(code):
    """The instructions of the widest backward branch's range (a loop), or [] when there is none."""
    best = None
    for addr, op, operands in code:
        if op.split(".")[0] != "BRA":
            continue
        m = re.match(r"(0x[0-9a-f]+)", operands)
        if m and int(m.group(1), 16) < addr:  # backward; a branch to itself is the trap after EXIT
            span = (int(m.group(1), 16), addr)
            if best is None or span[1] - span[0] > best[1] - best[0]:
                best = span
    if best is None:
        return []
    return [c for c in code if best[0] <= c[0] <= best[1]]


def mix(code):
    counts = Counter(op.split(".")[0] for _, op, _ in code)
    row = {name: sum(counts[o] for o in ops) for name, ops in CLASSES}
    row["total"] = len(code)
    lds = row["LDS"]
    row["LDS/FFMA"] = f"{lds / row['FFMA']:.2f}" if row["FFMA"] else "-"
    return row


def report(build, arches, files):
    cuobjdump = sass_tools()
    commands = compile_commands(build)
    kernels = []  # (arch, file, name, ptxas info, whole mix, loop mix)
    with tempfile.TemporaryDirectory() as tmp:
        for arch in arches:
            for src in files:
                entry = commands.get(os.path.normpath(str(src)))
                if entry is None:
                    sys.exit(f"sass_report: {src} is not in {build}/compile_commands.json")
                out = os.path.join(tmp, f"{src.stem}.sm_{arch}.cubin")
                cmd = cubin_command(entry, arch, out)
                run = subprocess.run(cmd, cwd=entry["directory"], capture_output=True, text=True)
                if run.returncode != 0:
                    sys.exit(f"sass_report: nvcc failed on {src} for sm_{arch}:\n{run.stderr}")
                info = parse_ptxas(run.stderr)
                sass = subprocess.run([cuobjdump, "-sass", out], capture_output=True, text=True, check=True).stdout
                code = parse_sass(sass)
                names = demangle(sorted(code))
                for mangled in sorted(code, key=lambda k: names[k]):
                    kernels.append((arch, src.relative_to(ROOT), names[mangled], info.get(mangled, {}),
                                    mix(code[mangled]), mix(outermost_loop(code[mangled]))))
    return kernels


def markdown(kernels):
    lines = ["| arch | kernel | file | registers | stack B | spill stores/loads B | static smem B |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for arch, src, name, info, _, _ in kernels:
        spill = f"{info.get('spill_stores', '?')}/{info.get('spill_loads', '?')}"
        lines.append(f"| sm_{arch} | `{name}` | {src} | {info.get('regs', '?')} | {info.get('stack', '?')} | "
                     f"{spill} | {info.get('smem', '?')} |")
    cols = [name for name, _ in CLASSES] + ["total", "LDS/FFMA"]
    lines += ["", "Instruction mix (static counts; *loop*: the outermost loop, for a persistent kernel its step "
              "loop):", "", "| arch | kernel | part | " + " | ".join(cols) + " |",
              "| --- | --- | --- | " + " | ".join("---:" for _ in cols) + " |"]
    for arch, _, name, _, whole, loop in kernels:
        lines.append(f"| sm_{arch} | `{name}` | all | " + " | ".join(str(whole[c]) for c in cols) + " |")
        if loop["total"]:
            lines.append(f"| sm_{arch} | `{name}` | loop | " + " | ".join(str(loop[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="an nvcc build directory (default build/)")
    ap.add_argument("--arch", action="append", help="compute capability digits, e.g. 90 (default 90; repeatable)")
    ap.add_argument("--file", action="append", help="a .cu file (default: those with a __global__ under kernels/ "
                    "and src/cuda/)")
    ap.add_argument("--write", help="a markdown file whose sass_report section is replaced (e.g. docs/profiling.md)")
    ap.add_argument("--fail-on-spill", action="store_true", help="exit 1 when any kernel spills, naming it")
    args = ap.parse_args()
    build = (ROOT / args.build).resolve()
    arches = args.arch or ["90"]
    if args.file:
        files = [Path(f).resolve() for f in args.file]
    else:
        files = sorted(p for d in ("kernels", "src/cuda") for p in (ROOT / d).glob("*.cu")
                       if "__global__" in p.read_text())
    kernels = report(build, arches, files)
    text = markdown(kernels)
    print(text)
    if args.write:
        body = (f"Made by `tools/gpu/sass_report.py` ({', '.join('sm_' + a for a in arches)}, the build's own nvcc "
                f"flags).\n\n{text}")
        replace_marked_section(args.write, BEGIN, END, "SASS report", body)
    spilling = [f"{name} (sm_{arch}: {info['spill_stores']} B stores, {info['spill_loads']} B loads)"
                for arch, _, name, info, _, _ in kernels if info.get("spill_stores") or info.get("spill_loads")]
    if spilling:
        print("sass_report: kernels that spill: " + "; ".join(spilling), file=sys.stderr)
        if args.fail_on_spill:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
