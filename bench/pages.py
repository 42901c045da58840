"""What touching fresh memory costs on this machine: the kernel zeroes each page a process
touches first, and numpy asks it for huge pages (`MADV_HUGEPAGE`) on every array of 4 MB
or more, which it may first compact memory to find.

    python bench/pages.py [--mb 200] [--runs 5] [--pause 0]

Each run is a fresh process that allocates `--mb` MB with numpy, touches one byte per
page (first touch), then again (second touch: the pages are now mapped), and reports both
in milliseconds per MB with its system CPU seconds. `--pause S` sleeps S seconds between
runs. On this VM (`transparent_hugepage/defrag = madvise`, memory mostly page cache) the
first touch swings between 0.1 and 7.6 ms/MB with numpy's advice and stays near 0.5 ms/MB
with `NUMPY_MADVISE_HUGEPAGE=0`: that is most of the spread of the contenders that hold
the most memory in bench/run.py's tables (bench/README.md, "Fresh memory").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time
import numpy as np
mb = int(sys.argv[1])
t = time.perf_counter()
a = np.zeros(mb << 18, dtype=np.int32)
a[::1024] = 1
first = time.perf_counter() - t
t = time.perf_counter()
a[::1024] = 2
second = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"first": first, "second": second, "sys": usage.ru_stime}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="MB to allocate and touch")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between runs")
    args = parser.parse_args(argv)
    print(f"{'run':>3}  {'first ms/MB':>11}  {'second ms/MB':>12}  {'process sys s':>13}")
    for i in range(args.runs):
        if i and args.pause:
            time.sleep(args.pause)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.mb)], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout)
        print(
            f"{i + 1:>3}  {r['first'] * 1e3 / args.mb:>11.2f}  "
            f"{r['second'] * 1e3 / args.mb:>12.3f}  {r['sys']:>13.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
