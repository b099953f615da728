"""The report of scripts/bench/serve-instructions: instructions per record per binary and case, then
the first binary's top functions per case, inclusive and self, each as (2N run - N run) / N."""
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*$")
TOP = 25


def functions(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          "--threshold=100", path], capture_output=True, text=True, check=True).stdout
    costs = {}
    started = False
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = LINE.match(line)
        if m:
            name = re.sub(r"\s+\[[^\]]*\]$", "", m.group(2))
            name = re.sub(r"^[^:]*:", "", name, count=1)
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def short(name, width=110):
    return name if len(name) <= width else name[: width - 1] + "…"


rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
out_dir = sys.argv[2]
bins, cases, per = [], [], {}
for tag, binary, case, n, small, large in rows:
    if binary not in bins:
        bins.append(binary)
    if case not in cases:
        cases.append(case)
    per[(binary, case)] = (int(large) - int(small)) / int(n)
print("| case | " + " | ".join(f"`{b}`" for b in bins) + " |")
print("|---|" + "---:|" * len(bins))
for c in cases:
    ref = per[(bins[0], c)]
    cells = [f"{per[(b, c)]:,.0f}" + ("" if b == bins[0] else f" ({per[(b, c)] / ref:.3f})") for b in bins]
    print(f"| {c}, server instructions per {'request' if c == 'healthz' else 'record'} | " + " | ".join(cells) + " |")
print()
print("(in parentheses: the ratio to the first binary, the reference)")

for tag, binary, case, n, small, large in rows:
    if tag != "b0":
        continue
    n = int(n)
    for inclusive in (True, False):
        a = functions(f"{out_dir}/{tag}.{case}.{n}.cg", inclusive)
        b = functions(f"{out_dir}/{tag}.{case}.{2 * n}.cg", inclusive)
        diff = {k: (b.get(k, 0) - a.get(k, 0)) / n for k in set(a) | set(b)}
        top = sorted(diff.items(), key=lambda kv: -kv[1])[:TOP]
        print()
        print(f"`{binary}`, {case}: top {TOP} functions, {'inclusive' if inclusive else 'self'} instructions per record")
        print()
        print("| instructions per record | function |")
        print("|---:|---|")
        for name, cost in top:
            print(f"| {cost:,.0f} | `{short(name)}` |")
