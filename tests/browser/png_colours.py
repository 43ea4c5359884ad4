#!/usr/bin/env python3
"""Reads an 8-bit RGB or RGBA PNG (as Chromium's screenshots are) with the standard library only, and
checks that it is not blank: it must hold at least MIN pixels of each colour given (`=MIN`), or at
most MAX (`<=MAX`), within a small tolerance. `x=X0:X1` counts only the columns of pixels from X0 up
to X1 (excluded) for the checks after it (`x=0:` the whole width again).

    png_colours.py FILE [x=X0:X1] [#rrggbb=MIN | #rrggbb<=MAX ...]

Prints how many pixels of each colour it found and how many colours the image has; exits 1 if a
check fails, 2 if the file is not a PNG this reads.
"""
import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"depth {depth}, colour type {colour}, interlace {interlace}: not read here")
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - step] if i >= step else 0
            b = previous[i]
            c = previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(line)
        previous = line
    for line in rows:
        for x in range(width):
            yield x, tuple(line[x * step : x * step + 3])


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    checks, span = [], (0, None)
    for arg in sys.argv[2:]:
        if arg.startswith("x="):
            low, high = arg[2:].split(":")
            span = (int(low or 0), int(high) if high else None)
            continue
        most = "<=" in arg
        colour, bound = arg.split("<=" if most else "=")
        rgb = tuple(int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
        checks.append((colour, rgb, int(bound), most, span))
    try:
        counts = {}
        for x, p in pixels(sys.argv[1]):
            counts[(x, p)] = counts.get((x, p), 0) + 1
    except (ValueError, OSError, zlib.error, TypeError) as e:
        print(f"{sys.argv[1]}: {e}", file=sys.stderr)
        return 2
    failed = False
    colours = {p for _, p in counts}
    print(f"{sys.argv[1]}: {sum(counts.values())} pixels, {len(colours)} colours")
    for name, rgb, bound, most, (low, high) in checks:
        found = sum(
            n
            for (x, p), n in counts.items()
            if x >= low and (high is None or x < high) and all(abs(p[i] - rgb[i]) <= 3 for i in range(3))
        )
        ok = found <= bound if most else found >= bound
        where = f" in x {low}:{'' if high is None else high}" if (low, high) != (0, None) else ""
        print(f"  {name}{where}: {found} pixels ({'at most' if most else 'at least'} {bound}) {'ok' if ok else 'WRONG'}")
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
