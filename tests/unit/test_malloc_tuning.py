"""The mmap threshold fix, observed in glibc's own statistics (a child process each: it is process-wide)."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

_CHILD = """
import ctypes, ctypes.util, sys
from hub.process.malloc_tuning import keep_large_blocks_out_of_the_heap

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = Info
if sys.argv[1] == "fixed":
    assert keep_large_blocks_out_of_the_heap()
bytearray(4 << 20)  # a 4 MiB block, mmapped and freed at once: glibc then raises its threshold to 4 MiB
before = libc.mallinfo2().hblkhd
block = bytearray(1 << 20)
print(libc.mallinfo2().hblkhd - before >= 1 << 20)
"""


def _glibc() -> bool:
    name = ctypes.util.find_library("c")
    return name is not None and hasattr(ctypes.CDLL(name), "mallinfo2")


@pytest.mark.skipif(not _glibc(), reason="glibc >= 2.33 only (mallinfo2)")
@pytest.mark.parametrize(("mode", "mmapped"), [("default", "False"), ("fixed", "True")])
def test_a_large_block_is_mmapped_again_once_the_threshold_is_fixed(mode: str, mmapped: str) -> None:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True).stdout
    assert out.strip() == mmapped
