"""Crafted files for the upload service: every kind of photo people really send, and the files an
attacker would send instead. Built in memory with Pillow and a little byte surgery."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import PIL.Image

from tests.conftest import photo_bytes

SCRIPT = b"<script>alert(document.domain)</script>"
GPS_LATITUDE = (48.0, 51.0, 29.99)  # somewhere one does not want to be found


def _save(image: PIL.Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _rgb(size=(64, 48), seed=0) -> PIL.Image.Image:
    return PIL.Image.open(io.BytesIO(photo_bytes(seed, size=size, fmt="PNG"))).convert("RGB")


def jpeg_with_gps_and_orientation(orientation: int = 6) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    exif[0x9003] = "2024:05:17 10:30:00"
    exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "E", 4: (2.0, 17.0, 40.2)}  # the GPS IFD
    return _save(_rgb((80, 40), seed=5), "JPEG", exif=exif.tobytes())


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb's shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (1 + width) * min(height, 4), 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


def png_zero_bomb(side: int) -> bytes:
    """A real, fully valid PNG of side x side black pixels: kilobytes on disk, side² bytes decoded."""
    return _save(PIL.Image.new("L", (side, side)), "PNG", optimize=True)


def gif_with_huge_screen() -> bytes:
    data = bytearray(_save(_rgb((16, 16)).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)  # the logical screen, which Pillow takes as the size
    return bytes(data)


def animated(fmt: str) -> bytes:
    frames = [_rgb((48, 32), seed=s) for s in range(3)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit_png() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (48, 1))
    return _save(PIL.Image.fromarray(ramp), "PNG")


def polyglot_jpeg() -> bytes:
    """A valid JPEG that is also an HTML page: script in a comment segment and after the end."""
    jpeg = _save(_rgb(), "JPEG", comment=b"<html><body>" + SCRIPT)
    return jpeg + b"<html>" + SCRIPT + b"</html>"


def polyglot_gif() -> bytes:
    # A GIF header followed by script: the classic GIF/JavaScript polyglot ("GIF89a=...").
    return b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;" + SCRIPT


#: name -> (filename, bytes). Valid photos of every kind, then hostile files.
SEEDS: dict[str, tuple[str, bytes]] = {
    "jpeg": ("photo.jpg", photo_bytes(1, size=(64, 48))),
    "jpeg_gps_rotated": ("phone.jpg", jpeg_with_gps_and_orientation()),
    **{f"jpeg_orientation_{o}": (f"o{o}.jpg", jpeg_with_gps_and_orientation(o)) for o in (2, 3, 4, 5, 7, 8)},
    "jpeg_mpo_phone": ("phone-portrait.jpg", _save(_rgb(seed=7), "MPO", save_all=True,
                                                   append_images=[_rgb((32, 24), seed=8)])),
    "jpeg_cmyk": ("print.jpg", _save(_rgb().convert("CMYK"), "JPEG")),
    "jpeg_grey_progressive": ("grey.jpg", _save(_rgb().convert("L"), "JPEG", progressive=True)),
    "png_rgba": ("alpha.png", _save(_rgb().convert("RGBA"), "PNG")),
    "png_la": ("la.png", _save(_rgb().convert("LA"), "PNG")),
    "png_palette_transparent": ("pal.png", _save(_rgb().convert("P"), "PNG", transparency=0)),
    "png_16bit": ("deep.png", sixteen_bit_png()),
    "png_1bit": ("bw.png", _save(_rgb().convert("1"), "PNG")),
    "png_html_text_chunk": ("text.png", _save(_rgb(), "PNG", pnginfo=None)[:-12]
                            + png_chunk(b"tEXt", b"Comment\x00" + SCRIPT) + png_chunk(b"IEND", b"")),
    "gif_animated": ("anim.gif", animated("GIF")),
    "webp": ("photo.webp", _save(_rgb(), "WEBP")),
    "webp_alpha": ("alpha.webp", _save(_rgb().convert("RGBA"), "WEBP", lossless=True)),
    "webp_animated": ("anim.webp", animated("WEBP")),
    "tiff_multipage_16bit": ("scan.tiff", _save(PIL.Image.fromarray(
        np.full((32, 32), 40000, dtype=np.uint16)), "TIFF", save_all=True,
        append_images=[PIL.Image.new("I;16", (32, 32))])),
    "bmp": ("old.bmp", _save(_rgb(), "BMP")),
    "bomb_declared": ("bomb.png", png_declaring(100_000, 100_000)),
    "bomb_gif_screen": ("bomb.gif", gif_with_huge_screen()),
    "huge_dimensions_wide": ("wide.png", png_declaring(70_000, 1_000)),
    "extreme_aspect_ratio": ("thin.png", png_declaring(2_000_000, 1)),
    "polyglot_jpeg_html": ("poly.jpg", polyglot_jpeg()),
    "polyglot_gif_js": ("poly.gif", polyglot_gif()),
    "svg_as_png": ("vector.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>'
                   b"alert(1)</script></svg>"),
    "svg": ("vector.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
            b'height="10"><rect width="10" height="10"/></svg>'),
    "html_as_jpeg": ("page.jpg", b"<!DOCTYPE html><html><body>" + SCRIPT + b"</body></html>"),
    "pdf_as_jpeg": ("doc.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"),
    "empty": ("empty.jpg", b""),
    "jpeg_truncated": ("cut.jpg", photo_bytes(2, size=(64, 48))[:300]),
    "png_truncated": ("cut.png", _save(_rgb(), "PNG")[:200]),
    "jpeg_named_png": ("liar.png", photo_bytes(3, size=(64, 48))),
}


#: What a re-encoded JPEG may contain: JFIF header, tables, frame, scans, restart interval, end.
PIXEL_ONLY_JPEG_MARKERS = {0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDA, 0xDD, 0xD9}


def jpeg_markers(data: bytes) -> list[int]:
    """The segment markers of a JPEG, in order. Metadata lives in APP1-APP15 (EXIF, GPS, XMP, ICC)
    and COM segments, so their absence proves a file carries pixels only; searching the bytes for
    "GPS" would not (entropy-coded data contains any three bytes now and then)."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, i = [], 2
    while i < len(data):
        assert data[i] == 0xFF, f"expected a marker at byte {i}"
        while data[i] == 0xFF:  # fill bytes
            i += 1
        marker = data[i]
        markers.append(marker)
        i += 1
        if marker == 0xD9:
            break
        end = i + int.from_bytes(data[i:i + 2], "big")
        if marker == 0xDA:  # a scan: skip its entropy-coded data up to the next real marker
            while not (data[end] == 0xFF and data[end + 1] != 0x00 and not 0xD0 <= data[end + 1] <= 0xD7):
                end += 1
        i = end
    return markers
