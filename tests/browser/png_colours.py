#!/usr/bin/env python3
"""Reads an 8-bit RGB or RGBA PNG (as Chromium's screenshots are) with the standard library only, and
checks that it is not blank: it must hold at least MIN pixels of each colour given, within a small
tolerance.

    png_colours.py FILE [#rrggbb=MIN ...]

Prints how many pixels of each colour it found and how many colours the image has; exits 1 if a
colour is short, 2 if the file is not a PNG this reads.
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
            yield tuple(line[x * step : x * step + 3])


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    wanted = []
    for arg in sys.argv[2:]:
        colour, minimum = arg.split("=")
        rgb = tuple(int(colour.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
        wanted.append((colour, rgb, int(minimum)))
    try:
        counts = {}
        for p in pixels(sys.argv[1]):
            counts[p] = counts.get(p, 0) + 1
    except (ValueError, OSError, zlib.error, TypeError) as e:
        print(f"{sys.argv[1]}: {e}", file=sys.stderr)
        return 2
    short = False
    print(f"{sys.argv[1]}: {sum(counts.values())} pixels, {len(counts)} colours")
    for name, rgb, minimum in wanted:
        found = sum(n for p, n in counts.items() if all(abs(p[i] - rgb[i]) <= 3 for i in range(3)))
        mark = "ok" if found >= minimum else "SHORT"
        print(f"  {name}: {found} pixels (at least {minimum}) {mark}")
        short |= found < minimum
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
