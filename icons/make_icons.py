"""Draws Castkey's icon (a key over a broadcast dot) as RGBA PNGs, no deps.

Run: python3 icons/make_icons.py  (writes icon.png 512, 128x128.png, 32x32.png)
"""
import math, os, struct, zlib

def png(path, size, pixel):
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            row += bytes(pixel(x / size, y / size))
        rows.append(bytes(row))
    raw = b"".join(rows)
    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)

def inside_rounded(u, v, r=0.2):
    cx = min(max(u, r), 1 - r); cy = min(max(v, r), 1 - r)
    return (u - cx) ** 2 + (v - cy) ** 2 <= r * r

def pixel(u, v):
    if not inside_rounded(u, v):
        return (0, 0, 0, 0)
    top, bottom = (124, 58, 237), (79, 70, 229)
    bg = tuple(int(top[i] + (bottom[i] - top[i]) * v) for i in range(3))
    white = (255, 255, 255, 255)
    # key bow: ring
    d = math.hypot(u - 0.36, v - 0.42)
    if 0.09 <= d <= 0.16:
        return white
    # key shaft and teeth
    if 0.48 <= u <= 0.80 and 0.395 <= v <= 0.445:
        return white
    if (0.66 <= u <= 0.70 or 0.74 <= u <= 0.78) and 0.445 <= v <= 0.53:
        return white
    # broadcast dot and arcs under the key
    d2 = math.hypot(u - 0.5, v - 0.80)
    if d2 <= 0.035:
        return (250, 204, 21, 255)
    if 0.075 <= d2 <= 0.1 and v < 0.80:
        return (250, 204, 21, 255)
    return bg + (255,)

here = os.path.dirname(os.path.abspath(__file__))
for name, size in [("icon.png", 512), ("128x128.png", 128), ("32x32.png", 32)]:
    png(os.path.join(here, name), size, pixel)
