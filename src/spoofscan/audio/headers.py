"""What a file's bytes say about its length, read without a decoder.

libsndfile stops where a header says the audio ends: at a WAV/AIFF/AU data size, at a FLAC
STREAMINFO sample count, at an MP3's Xing frame count, at an Ogg stream's last granule position
(and it reads only the first stream of a chained Ogg file). A header that understates the
audio would hide the rest of the file from the detector. :func:`survey` looks at the bytes
themselves, so that the readers (:mod:`.readers`) decode to the real end:

- WAV/AIFF/AU: bytes after the data chunk that are not a chunk are audio the header does not
  count (a recorder that stopped before updating its header, or audio hidden there): the
  data size to use instead is given, as ``sox --ignore-length`` would read it;
- FLAC: the block sizes of the frame headers (CRC-checked) are summed, whatever STREAMINFO says;
- MP3 and Ogg go to FFmpeg, which decodes every frame and page to the end of the file;
  the survey notes what their truncation checks need (an MP3 frame count, the Ogg end page).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

MAX_U32 = 0xFFFFFFFF
SCAN_BYTES = 1 << 20  # FLAC frames are counted this many bytes at a time
FLAC_HEADER_MAX = 16  # bytes: sync, codes, a 7-byte number, block size, sample rate, CRC-8
_OGG_MAX_PAGE = 27 + 255 + 255 * 255  # bytes: header, segment table, payload


@dataclass(frozen=True)
class Survey:
    """What the bytes of one file say, before any decoder reads it.

    kind : ``"wav"``, ``"aiff"``, ``"au"``, ``"flac"``, ``"ogg"``, ``"mp3"``, ``"mp4"``, ``"matroska"``
        or None (another format, or not audio)
    data_size_patch : WAV/AIFF/AU whose data runs past the size in its header: ``(offset, bytes)``,
        where the header's size field is and what to read there instead; None otherwise
    flac_samples : FLAC: samples per channel that its frames hold (None: not FLAC)
    problem : why the file is refused before decoding (an Ogg file without its end page, a WAV
        with two data chunks); None when nothing is wrong
    mp3_counted : MP3 with a Xing/Info or VBRI frame count (its announced length is then exact)
    """

    kind: str | None = None
    data_size_patch: tuple[int, bytes] | None = None
    flac_samples: int | None = None
    problem: str | None = None
    mp3_counted: bool = False

    @property
    def libsndfile_stops_early(self) -> bool:
        """Formats whose length libsndfile takes from a header the bytes cannot confirm: FFmpeg decodes them."""
        return self.kind in ("ogg", "mp3")


def survey(data: BinaryIO) -> Survey:
    """Read what :class:`Survey` holds from a seekable stream (left at offset 0)."""
    data.seek(0)
    head = data.read(12)
    size = data.seek(0, io.SEEK_END)
    try:
        if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
            return _chunked_data(data, size, b"data", big_endian=head[:4] == b"RIFX")
        if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
            return _chunked_data(data, size, b"SSND", big_endian=True)
        if head[:4] == b".snd":
            return Survey("au", _au_data_patch(head, size))
        if head[:4] == b"fLaC":
            return Survey("flac", flac_samples=flac_frame_samples(data))
        if head[:4] == b"OggS":
            end = _ogg_end(data, size)
            return Survey("ogg", problem=f"truncated: the Ogg stream {end}" if end else None)
        if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
            counted = _mp3_has_frame_count(data, head)
            # a frame sync alone is two bytes that random data holds one time in 2048: not enough to call it MP3
            return Survey("mp3", mp3_counted=counted) if counted or head[:3] == b"ID3" else Survey()
        if head[4:8] == b"ftyp":
            return Survey("mp4")
        if head[:4] == b"\x1aE\xdf\xa3":
            return Survey("matroska")
        return Survey()
    finally:
        data.seek(0)


# ---------------------------------------------------------------------------- WAV, AIFF, AU


def _chunked_data(data: BinaryIO, size: int, data_id: bytes, big_endian: bool) -> Survey:
    """RIFF/RIFX/FORM: the patch of the data chunk's size when the bytes after it are not a chunk.

    Chunks are walked from offset 12. What follows the data chunk (after its pad byte) must be
    another chunk (four printable characters) or the end of the file; anything else (at least
    a chunk header's 8 bytes of it) is taken for audio that the size does not count. A second
    data chunk is a problem: which one a player plays depends on the player.
    """
    order = ">I" if big_endian else "<I"
    kind = "aiff" if data_id == b"SSND" else "wav"
    pos, found = 12, None
    while pos + 8 <= size:
        data.seek(pos)
        header = data.read(8)
        if found is not None and not _id_at(data, pos):
            break
        chunk_size = struct.unpack(order, header[4:8])[0]
        if header[:4] == data_id:
            if found is not None:
                return Survey(kind, problem=f"holds two {data_id.decode().strip()} chunks (a file holds one: "
                                            f"players differ on which one they play)")
            found = (pos, chunk_size)
            if chunk_size in (0, MAX_U32):  # written to a pipe: read to the end already
                return Survey(kind)
        pos += 8 + chunk_size + (chunk_size & 1)
        if chunk_size & 1 and not _id_at(data, pos) and _id_at(data, pos - 1):
            pos -= 1  # a writer that left out the pad byte after an odd size
    if found is None or pos + 8 > size:  # no data chunk, or chunks to the end (cut short: the truncation check's case)
        return Survey(kind)
    start, chunk_size = found
    if start + 8 + chunk_size + (chunk_size & 1) != pos:  # a chunk after the data, then bytes that are not chunks
        return Survey(kind)
    return Survey(kind, data_size_patch=(start + 4, struct.pack(order, min(size - start - 8, MAX_U32 - 1))))


def _id_at(data: BinaryIO, offset: int) -> bool:
    """Whether a chunk id (four printable characters) is at ``offset``."""
    data.seek(offset)
    four = data.read(4)
    return len(four) == 4 and all(0x20 <= b <= 0x7E for b in four)


def _au_data_patch(head: bytes, size: int) -> tuple[int, bytes] | None:
    """AU (.snd): the patch of the data size when the file holds more audio bytes than it says."""
    if len(head) < 12:
        return None
    offset, data_size = struct.unpack(">II", head[4:12])
    if data_size == MAX_U32 or offset + data_size + 8 > size:
        return None
    return 8, struct.pack(">I", min(size - offset, MAX_U32 - 1))


class LibsndfileView(io.RawIOBase):
    """What libsndfile reads of a seekable stream: ``patch`` (``(offset, bytes)``, or None) shown
    instead of the stream's own bytes there, and a seek before the start refused by staying put
    (libsndfile probes some cut files with ``seek(-1)``: raised inside its callback, the
    ``ValueError`` would be printed as "Exception ignored" and the read go on anyway)."""

    def __init__(self, raw: BinaryIO, patch: tuple[int, bytes] | None = None):
        self.raw = raw
        self.offset, self.patch = patch or (0, b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = 0 if whence == io.SEEK_SET else self.raw.tell() if whence == io.SEEK_CUR else None
        if base is not None and base + offset < 0:
            return self.raw.tell()
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readinto(self, buffer) -> int:
        start = self.raw.tell() if self.patch else 0
        if hasattr(self.raw, "readinto"):
            n = self.raw.readinto(buffer)
        else:  # a file object of the caller's that only reads
            data = self.raw.read(len(buffer))
            n = len(data)
            memoryview(buffer)[:n] = data
        if not self.patch:
            return n
        lo, hi = max(start, self.offset), min(start + n, self.offset + len(self.patch))
        if lo < hi:
            memoryview(buffer)[lo - start:hi - start] = self.patch[lo - self.offset:hi - self.offset]
        return n


# ---------------------------------------------------------------------------- FLAC


def flac_frame_samples(data: BinaryIO) -> int:
    """Samples per channel in a FLAC file's frames: the block sizes of its frame headers, summed.

    Every frame starts with a header (a 14-bit sync code, coded fields, a CRC-8); they are
    found by their sync code and kept when their fields and CRC are valid. STREAMINFO is not
    used: this is the count to hold its sample count against. A header made up by chance
    inside frame data (about one in 16 MB) only adds a block.
    """
    pos = 4
    while True:  # metadata blocks: 1 bit "last", 7 bits type, 24 bits length
        data.seek(pos)
        block = data.read(4)
        if len(block) < 4:
            return 0
        pos += 4 + int.from_bytes(block[1:4], "big")
        if block[0] & 0x80:
            break
    data.seek(pos)
    total, carry = 0, b""
    chunk = data.read(SCAN_BYTES)
    while chunk:
        following = data.read(SCAN_BYTES)
        buf = carry + chunk
        stop = len(buf) - FLAC_HEADER_MAX if following else len(buf)  # a header cut by the chunk's end comes next time
        arr = np.frombuffer(buf, np.uint8)
        for i in np.flatnonzero((arr[:-1] == 0xFF) & ((arr[1:] & 0xFE) == 0xF8)):
            if i >= stop:
                break
            total += _flac_block_size(buf, int(i))
        carry, chunk = buf[max(stop, 0):], following
    return total


_FLAC_BLOCK_SIZES = {1: 192, **{c: 576 << (c - 2) for c in range(2, 6)}, **{c: 256 << (c - 8) for c in range(8, 16)}}


def _flac_block_size(buf: bytes, i: int) -> int:
    """The block size of a valid FLAC frame header at ``buf[i]``, else 0."""
    b = buf[i:i + FLAC_HEADER_MAX]
    if len(b) < 6:
        return 0
    block_code, rate_code = b[2] >> 4, b[2] & 0x0F
    if block_code == 0 or rate_code == 0x0F or b[3] >> 4 > 10 or (b[3] >> 1) & 7 == 3 or b[3] & 1:
        return 0
    # the frame or sample number, coded as UTF-8 is: 0xxxxxxx, or 110xxxxx 10xxxxxx, ... up to 11111110 + 6 bytes
    first = b[4]
    if 0x80 <= first < 0xC0 or first == 0xFF:
        return 0
    extra = 0 if first < 0x80 else 7 - (first ^ 0xFF).bit_length()  # leading one bits, less one
    if any(c & 0xC0 != 0x80 for c in b[5:5 + extra]):
        return 0
    j = 5 + extra
    if block_code in (6, 7):
        n = block_code - 5
        size, j = int.from_bytes(b[j:j + n], "big") + 1, j + n
    else:
        size = _FLAC_BLOCK_SIZES[block_code]
    j += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if j >= len(b) or _crc8(b[:j]) != b[j]:
        return 0
    return size


def _crc8_table() -> list:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


_CRC8 = _crc8_table()  # polynomial x^8 + x^2 + x + 1, FLAC's frame-header CRC


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


# ---------------------------------------------------------------------------- Ogg, MP3


def _ogg_end(data: BinaryIO, size: int) -> str | None:
    """Why an Ogg file does not end with a whole end-of-stream page; None when it does.

    Every complete Ogg stream ends with a page flagged end-of-stream. A download or copy that
    stopped early ends in a partial page or in a page without that flag; decoders decode what
    is there without a word, so this looks at the file's last page.
    """
    data.seek(max(0, size - 2 * _OGG_MAX_PAGE))
    tail = data.read()
    at = tail.rfind(b"OggS")
    while at >= 0:
        header = tail[at:at + 27]
        if len(header) == 27 and header[4] == 0:  # stream structure version 0: a page header
            table = tail[at + 27:at + 27 + header[26]]
            end = at + 27 + header[26] + sum(table)
            if len(table) < header[26] or end > len(tail):
                return "ends inside a page (the file is cut short)"
            if end == len(tail):
                return None if header[5] & 0x04 else "ends without its end-of-stream page (the file is cut short)"
        at = tail.rfind(b"OggS", 0, at)  # "OggS" inside a payload, or bytes after the last page
    return None


def _mp3_has_frame_count(data: BinaryIO, head: bytes) -> bool:
    """Whether an MP3 starts with a Xing/Info or VBRI frame count (its announced length is then exact).

    Without one, a decoder's length is a guess from the first frame's bitrate and the file size.
    """
    skip = 0
    if len(head) >= 10 and head[:3] == b"ID3":  # ID3v2 tag: syncsafe size, + footer if flagged
        skip = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10])) + (10 if head[5] & 0x10 else 0)
    data.seek(skip)
    first_frame = data.read(200)
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


# ---------------------------------------------------------------------------- what a file is, when not audio

KIND_NAMES = {"wav": "a WAV file", "aiff": "an AIFF file", "au": "an AU file", "flac": "a FLAC file",
              "ogg": "an Ogg file", "mp3": "an MP3 file", "mp4": "an MP4/M4A file", "matroska": "a Matroska/WebM file"}
ACCEPTED = ("spoofscan reads WAV, FLAC, MP3, Ogg (Vorbis, Opus), AIFF, AU, M4A/AAC, WebM and the other "
            "audio formats FFmpeg decodes")
_SIGNATURES = (  # (offset, leading bytes, what the file is)
    (0, b"%PDF", "a PDF document"), (0, b"\x89PNG", "a PNG image"), (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"), (0, b"BM", "a BMP image"), (8, b"WEBP", "a WebP image"),
    (0, b"PK\x03\x04", "a ZIP archive (or a document stored as one: docx, xlsx, odt...)"),
    (0, b"\x1f\x8b", "gzip-compressed data"), (0, b"7z\xbc\xaf", "a 7-Zip archive"), (0, b"Rar!", "a RAR archive"),
    (0, b"\x7fELF", "a program (ELF)"), (0, b"MZ", "a Windows program"),
    (0, b"\x80", "a Python pickle or other binary data"), (0, b"SQLite format 3", "an SQLite database"),
)


def describe(head: bytes) -> str:
    """What a file that no decoder reads looks like, from its first bytes: "a PNG image", "text
    ('hello...')", or the bytes themselves in hex."""
    for offset, signature, what in _SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return what
    try:
        text = head[:256].decode("utf-8")
    except UnicodeDecodeError as e:
        text = head[:e.start].decode("utf-8") if e.start >= 64 else None  # text cut inside a character
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        shown = " ".join(text.split())
        return f"text ({shown[:40]!r}{'...' if len(shown) > 40 else ''})" if shown else "blank text"
    return f"unrecognised bytes (starting {head[:8].hex(' ')})"
