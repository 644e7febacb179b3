#!/usr/bin/env python3
"""Write the seed corpus of fuzz_decode (test/fuzz/corpus/fuzz_decode/).

Seeds follow the harness's input layout (see fuzz_decode.c): flags, token indexes, cap,
feed seed, parameter byte, body. Raw-mode seeds carry bodies encoded here by zlib, zstd and
brotli (the last two through ctypes, as Python has no binding by default); round-trip seeds
carry plain text the harness encodes itself. Run again after changing the layout. Files named
regress_* in the corpus are inputs the fuzzer found; this script leaves them alone.
"""
import ctypes
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_decode")

# Indexes into fuzz_decode.c's tokens[].
GZIP, DEFLATE, ZSTD, BR, IDENTITY, X_GZIP, X_ZSTD, GZIP_CASE, BR_SPACED, EMPTY, COMPRESS = range(11)
ROUND_TRIP, REFUSE, LATE_CAP = 0x20, 0x40, 0x80

_zstd = ctypes.CDLL("libzstd.so.1")
_zstd.ZSTD_compressBound.restype = ctypes.c_size_t
_zstd.ZSTD_compress.restype = ctypes.c_size_t
_zstd.ZSTD_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                ctypes.c_int]
_br = ctypes.CDLL("libbrotlienc.so.1")
_br.BrotliEncoderMaxCompressedSize.restype = ctypes.c_size_t
_br.BrotliEncoderCompress.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_size_t,
                                      ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t),
                                      ctypes.c_char_p]


def zstd(data, level=3):
    cap = _zstd.ZSTD_compressBound(len(data))
    buf = ctypes.create_string_buffer(cap)
    n = _zstd.ZSTD_compress(buf, cap, data, len(data), level)
    return buf.raw[:n]


def br(data, quality=5):
    size = ctypes.c_size_t(_br.BrotliEncoderMaxCompressedSize(len(data)) or 64)
    buf = ctypes.create_string_buffer(size.value)
    assert _br.BrotliEncoderCompress(quality, 22, 0, len(data), data, ctypes.byref(size), buf)
    return buf.raw[:size.value]


def gzip(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def deflate_zlib(data):
    return zlib.compress(data)


def deflate_raw(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def seed(tokens, body, cap=0xFFFF, feed=1, param=0, flags=0, sep=0):
    return bytes([flags | (sep << 3) | len(tokens)] + tokens) + struct.pack("<HHB", cap, feed, param) + body


JSON = (b'{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4",'
        b'"content":[{"type":"text","text":"Hello, world! \\u00e9"}],"stop_reason":"end_turn",'
        b'"usage":{"input_tokens":12,"output_tokens":5}}')
SSE = b"".join(b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
               b'"delta":{"type":"text_delta","text":"chunk %d "}}\n\n' % i for i in range(40))

SEEDS = {
    "gzip_json": seed([GZIP], gzip(JSON)),
    "x_gzip_sse": seed([X_GZIP], gzip(SSE), feed=7),
    "gzip_two_members": seed([GZIP], gzip(JSON) + gzip(SSE)),
    "gzip_trailing_garbage": seed([GZIP], gzip(JSON) + b"\x00\x00"),
    "gzip_truncated": seed([GZIP], gzip(SSE)[:-9]),
    "gzip_capped": seed([GZIP_CASE], gzip(SSE), cap=300),
    "deflate_zlib": seed([DEFLATE], deflate_zlib(JSON)),
    "deflate_raw": seed([DEFLATE], deflate_raw(SSE), feed=3),
    "deflate_raw_one_byte": seed([DEFLATE], deflate_raw(JSON)[:1]),
    "deflate_zlib_truncated": seed([DEFLATE], deflate_zlib(SSE)[:40]),
    "deflate_zlib_trailing": seed([DEFLATE], deflate_zlib(JSON) + b"x"),
    "zstd_json": seed([ZSTD], zstd(JSON)),
    "x_zstd_two_frames": seed([X_ZSTD], zstd(JSON) + zstd(SSE, 1)),
    "zstd_truncated": seed([ZSTD], zstd(SSE)[:-5]),
    "zstd_capped": seed([ZSTD], zstd(SSE), cap=1000),
    "br_json": seed([BR], br(JSON)),
    "br_spaced_sse": seed([BR_SPACED], br(SSE), feed=11),
    "br_truncated": seed([BR], br(SSE)[:-3]),
    "br_trailing": seed([BR], br(JSON) + b"\x01"),
    "gzip_then_br": seed([GZIP, BR], br(gzip(SSE)), sep=1),
    "zstd_then_gzip": seed([ZSTD, GZIP], gzip(zstd(JSON)), sep=2),
    "deflate_zstd_br": seed([DEFLATE, ZSTD, BR], br(zstd(deflate_zlib(SSE)))),
    "four_codings": seed([GZIP, DEFLATE, ZSTD, BR], br(zstd(deflate_raw(gzip(JSON))))),
    "identity_between": seed([GZIP, IDENTITY, BR], br(gzip(JSON)), sep=3),
    "empty_token": seed([EMPTY, GZIP, EMPTY], gzip(JSON)),
    "too_many": seed([GZIP, GZIP, GZIP, GZIP, GZIP], JSON),
    "unsupported": seed([GZIP, COMPRESS], JSON),
    "identity_only": seed([IDENTITY], JSON),
    "empty_body": seed([BR], b""),
    "bomb_zstd": seed([ZSTD], zstd(b"\x00" * 4000000, 19), cap=5000),
    "bomb_nested": seed([GZIP, GZIP], gzip(gzip(b"a" * 3000000)), cap=60000),
    "refusing_sink": seed([GZIP], gzip(SSE), flags=REFUSE, param=20),
    "late_cap": seed([ZSTD], zstd(SSE) + zstd(SSE), cap=100, feed=2, flags=LATE_CAP),
    # feed seed 13 cuts 116 bytes first: the cap drops below what they decoded to.
    "late_cap_below_output": seed([GZIP], gzip(SSE), cap=100, feed=13, flags=LATE_CAP),
    "not_compressed": seed([ZSTD], JSON),
    "round_trip_gzip": seed([GZIP], SSE, flags=ROUND_TRIP, param=0xC0),
    "round_trip_gzip_members": seed([X_GZIP], SSE, flags=ROUND_TRIP, param=0x62),
    "round_trip_deflate_raw": seed([DEFLATE], JSON, flags=ROUND_TRIP, param=0x70),
    "round_trip_zstd_frames": seed([ZSTD], SSE, flags=ROUND_TRIP, param=0x82),
    "round_trip_br": seed([BR], JSON, flags=ROUND_TRIP, param=0xA0),
    "round_trip_stack": seed([GZIP, DEFLATE, ZSTD, BR], SSE, flags=ROUND_TRIP, param=0x40),
    "round_trip_truncated": seed([ZSTD, BR], SSE, flags=ROUND_TRIP, param=0x41),
    "round_trip_capped": seed([BR, GZIP], SSE, flags=ROUND_TRIP, cap=500, param=0x20),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
