"""Hostile GIFs built byte by byte, for the memory tests (no image library involved).

A GIF's logical screen and each frame's descriptor give sizes independently, so a few
hundred bytes can describe frames far larger than the screen, and a couple of MB can hold
thousands of full frames of one flat colour (LZW squeezes a flat frame to ~1 KB).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

# One GIF frame: left, top, width, height, and the palette index it is filled with.
Frame = tuple[int, int, int, int, int]


def lzw_encode(indices: Iterable[int], min_code_size: int = 2) -> bytes:
    """GIF's variable-width LZW over palette `indices`, as data sub-blocks (with the
    leading code size byte and the terminating empty block)."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    table: dict[tuple[int, int], int] = {}
    next_code, width = end + 1, min_code_size + 1
    out, acc, bits = bytearray(), 0, 0

    def emit(code: int) -> None:
        nonlocal acc, bits
        acc |= code << bits
        bits += width
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8

    emit(clear)
    prefix = -1
    for index in indices:
        if prefix < 0:
            prefix = index
            continue
        code = table.get((prefix, index))
        if code is not None:
            prefix = code
            continue
        emit(prefix)
        if next_code < 4096:
            table[(prefix, index)] = next_code
            next_code += 1
            if next_code > (1 << width) and width < 12:
                width += 1
        else:
            emit(clear)
            table.clear()
            next_code, width = end + 1, min_code_size + 1
        prefix = index
    if prefix >= 0:
        emit(prefix)
    emit(end)
    if bits:
        out.append(acc & 0xFF)
    blocks = bytearray([min_code_size])
    for start in range(0, len(out), 255):
        chunk = out[start : start + 255]
        blocks.append(len(chunk))
        blocks += chunk
    blocks.append(0)
    return bytes(blocks)


def gif(screen: tuple[int, int], frames: Sequence[Frame], *, pixels: int | None = None) -> bytes:
    """A looping GIF with a 4-colour palette: each frame filled with its colour index.

    `pixels`: encode only that many pixels per frame (a frame that claims more than its
    data holds, as hostile files do); None encodes every pixel of each frame.
    """
    data = bytearray(b"GIF89a" + struct.pack("<HHBBB", screen[0], screen[1], 0x81, 0, 0))
    data += bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])  # black, red, green, blue
    data += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    encoded: dict[tuple[int, int], bytes] = {}  # flat frames repeat: encode each once
    for left, top, width, height, colour in frames:
        data += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms, no transparency
        data += b"\x2c" + struct.pack("<HHHHB", left, top, width, height, 0)
        count = width * height if pixels is None else pixels
        if (count, colour) not in encoded:
            encoded[count, colour] = lzw_encode(colour for _ in range(count))
        data += encoded[count, colour]
    data += b"\x3b"
    return bytes(data)


def wide_frame_gif(frames: int = 1) -> bytes:
    """Frames whose descriptors say 65535x255 on a 32x24 screen, with 64 pixels of data."""
    return gif((32, 24), [(0, 0, 65535, 255, 1 + i % 3) for i in range(frames)], pixels=64)


def many_frames_gif(frames: int = 3000, side: int = 400) -> bytes:
    """`frames` full frames of `side`x`side`, alternating flat colours."""
    return gif((side, side), [(0, 0, side, side, 1 + i % 3) for i in range(frames)])
