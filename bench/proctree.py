"""CPU and memory of a process and everything under it, read from ``/proc`` (Linux).

Shared by the benchmarks: a figure for "the whole stack" sums over the tree, so workers
and the task processes they fork count too.
"""

from __future__ import annotations

import os
import threading


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _kb(path: str, field_name: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory_mb(root: int, pss: bool) -> tuple[float, float, int]:
    """(RSS sum, PSS sum or 0, process count) of ``root`` and its descendants. PSS walks
    every page table (costly): ask for it only now and then."""
    pids = tree(root)
    rss = sum(_kb(f"/proc/{p}/status", "VmRSS") for p in pids)
    pss_kb = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss") for p in pids) if pss else 0
    return rss / 1024, pss_kb / 1024, len(pids)


def tree_cpu_seconds(root: int) -> float:
    """CPU time used by ``root`` and its live descendants, and by the children they reaped
    (the workers' task processes)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    return total


class PeakSampler(threading.Thread):
    """Peak RSS (every 0.1 s) and PSS (every 0.5 s) of a tree, until ``stop`` is set."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.rss = self.pss = 0.0
        self.procs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.wait(0.1):
            rss, pss, procs = tree_memory_mb(self.root, pss=n % 5 == 0)
            n += 1
            if rss > self.rss:
                self.rss, self.procs = rss, procs
            self.pss = max(self.pss, pss)
