#!/usr/bin/env python3
"""Writes a corpus of broken input files, one reader's worth per sub-folder.

    python3 tests/fuzz/make_corpus.py OUT_DIR

Every file is broken in one specific way (truncated, lying about its size, wrong
magic, absurd dimensions, bad types, ...); `tests/fuzz/readers.rs` feeds each to its
reader and expects a clear error naming the file, never a panic, an abort or a result.
Standard library only, deterministic.
"""
import gzip
import json
import os
import struct
import sys
import zlib


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def idx(dims, body, type_code=0x08):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + body


def png(width, height, rows, crc_ok=True, idat=None):
    def chunk(kind, data, ok=True):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc if ok else crc ^ 1)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    data = zlib.compress(raw) if idat is None else idat
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data, crc_ok) + chunk(b"IEND", b"")


def fits(cards, data=b""):
    header = "".join(f"{c:<80}"[:80] for c in cards + ["END"])
    header += " " * (-len(header) % 2880)
    body = data + b"\x00" * (-len(data) % 2880)
    return header.encode() + body


def card(key, value):
    return f"{key:<8}= {value:>20}"


def npy(header_dict_text, body, version=1):
    header = header_dict_text
    pad = -(10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header.encode() + body


def safetensors(header_obj, body, declared_len=None):
    h = json.dumps(header_obj).encode()
    n = len(h) if declared_len is None else declared_len
    return struct.pack("<Q", n) + h + body


def main(out):
    rows16 = [bytes(range(16))] * 16
    good_png = png(16, 16, rows16)
    # IDX (MNIST family)
    write(f"{out}/idx/short-body-images-idx3-ubyte", idx([10, 16, 16], b"\x00" * 100))
    write(f"{out}/idx/short-header-images-idx3-ubyte", bytes([0, 0, 8, 3, 0, 0]))
    write(f"{out}/idx/bad-magic-images-idx3-ubyte", b"\x12\x34\x08\x03" + b"\x00" * 12)
    write(f"{out}/idx/float-type-images-idx3-ubyte", idx([1, 2, 2], b"\x00" * 16, 0x0D))
    write(f"{out}/idx/huge-dims-images-idx3-ubyte", idx([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b"\x00" * 8))
    write(f"{out}/idx/zero-dims-images-idx3-ubyte", idx([], b""))
    write(f"{out}/idx/trailing-images-idx3-ubyte", idx([1, 2, 2], b"\x00" * 9))
    gz = gzip.compress(idx([4, 16, 16], b"\x01" * 1024), mtime=0)
    write(f"{out}/idx/cut-gzip-images-idx3-ubyte.gz", gz[: len(gz) // 2])
    write(f"{out}/idx/empty-images-idx3-ubyte", b"")
    # PNG / JPEG images (each in its own ImageFolder)
    write(f"{out}/png/truncated/a.png", good_png[: len(good_png) // 2])
    write(f"{out}/png/bad-crc/a.png", png(16, 16, rows16, crc_ok=False))
    write(f"{out}/png/huge/a.png", png(100000, 100000, [], idat=zlib.compress(b"\x00" * 64)))
    write(f"{out}/png/zero-size/a.png", png(0, 0, []))
    write(f"{out}/png/short-idat/a.png", png(16, 16, rows16[:3]))
    write(f"{out}/png/not-an-image/a.png", b"hello, I am text\n")
    write(f"{out}/png/empty/a.png", b"")
    write(f"{out}/png/jpeg-header-only/a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    write(f"{out}/png/jpeg-garbage/a.jpg", b"\xff\xd8" + bytes(range(256)) * 4)
    # FITS spectra
    base = [card("SIMPLE", "T"), card("BITPIX", "-32"), card("NAXIS", "1")]
    axis = [card("CRVAL1", "4000.0"), card("CDELT1", "2.0"), card("CRPIX1", "1.0")]
    data = struct.pack(">64f", *([1.0] * 64))
    write(f"{out}/fits/truncated-data.fits", fits(base + [card("NAXIS1", "64000")] + axis, data)[: 2880 + 256])
    write(f"{out}/fits/huge-axis.fits", fits(base[:2] + [card("NAXIS", "2"), card("NAXIS1", "4294967295"), card("NAXIS2", "4294967295")] + axis, data))
    write(f"{out}/fits/no-end.fits", ("".join(f"{c:<80}" for c in base + [card("NAXIS1", "64")] + axis) + " " * 2320).encode() + data)
    write(f"{out}/fits/bad-bitpix.fits", fits([card("SIMPLE", "T"), card("BITPIX", "17"), card("NAXIS", "1"), card("NAXIS1", "64")] + axis, data))
    write(f"{out}/fits/no-axis-keys.fits", fits(base + [card("NAXIS1", "64")], data))
    write(f"{out}/fits/header-only.fits", fits(base + [card("NAXIS1", "64")] + axis)[:1000])
    write(f"{out}/fits/not-fits.fits", b"SIMPLE  = F" + b" " * 3000)
    write(f"{out}/fits/table-huge-rows.fits", fits([card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"), card("EXTEND", "T")])
          + fits([card("XTENSION", "'BINTABLE'"), card("BITPIX", "8"), card("NAXIS", "2"), card("NAXIS1", "8"), card("NAXIS2", "4000000000"),
                  card("PCOUNT", "0"), card("GCOUNT", "1"), card("TFIELDS", "2"), card("TTYPE1", "'FLUX'"), card("TFORM1", "'1E'"),
                  card("TTYPE2", "'WAVE'"), card("TFORM2", "'1E'")], b"\x00" * 64))
    # CSV spectra
    write(f"{out}/csv/empty.csv", "")
    write(f"{out}/csv/ragged.csv", "name,5000,5001\na,1\n")
    write(f"{out}/csv/text-flux.csv", "name,5000,5001,5002\na,1,two,3\n")
    write(f"{out}/csv/text-wave.csv", "name,5000,oops,5002\na,1,2,3\n")
    write(f"{out}/csv/decreasing.csv", "name,5002,5001,5000\na,1,2,3\n")
    write(f"{out}/csv/header-only.csv", "name,5000,5001,5002\n")
    write(f"{out}/csv/binary.csv", bytes(range(256)))
    # NPY spectra (each with a valid wave.npy beside it)
    wave = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", struct.pack("<4f", 1, 2, 3, 4))
    npy_cases = {
        "truncated": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", b"\x00" * 20),
        "padded": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4), }", b"\x00" * 40),
        "big-endian": npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 4), }", b"\x00" * 16),
        "fortran": npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 4), }", b"\x00" * 16),
        "overflow": npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", b"\x00" * 16),
        "bad-magic": b"\x93NUMPZ" + b"\x01\x00" + b"\x00" * 64,
        "header-too-long": b"\x93NUMPY\x01\x00\xff\xff{'descr'",
        "no-shape": npy("{'descr': '<f4', 'fortran_order': False, }", b"\x00" * 16),
        "int-type": npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 4), }", b"\x00" * 32),
        "empty": b"",
    }
    for name, data in npy_cases.items():
        write(f"{out}/npy/{name}/spectra.npy", data)
        write(f"{out}/npy/{name}/wave.npy", wave)
    # Checkpoint tensors (safetensors), whose checksums the reader recomputes
    t = {"model/w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    st_cases = {
        "huge-header-length": safetensors(t, b"\x00" * 16, declared_len=1 << 60),
        "offsets-past-end": safetensors({"model/w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 1600]}}, b"\x00" * 16),
        "shape-mismatch": safetensors({"model/w": {"dtype": "F32", "shape": [200, 200], "data_offsets": [0, 16]}}, b"\x00" * 16),
        "bad-json": struct.pack("<Q", 10) + b"{not json}" + b"\x00" * 16,
        "bad-dtype": safetensors({"model/w": {"dtype": "Q7", "shape": [2, 2], "data_offsets": [0, 16]}}, b"\x00" * 16),
        "short": b"\x01\x02",
    }
    for name, data in st_cases.items():
        write(f"{out}/safetensors/{name}/tensors.safetensors", data)
    # TOML configs
    write(f"{out}/toml/wrong-type.toml", "[train]\nsteps = \"many\"\n")
    write(f"{out}/toml/unknown-key.toml", "[train]\nstepz = 3\n")
    write(f"{out}/toml/negative-size.toml", "[train]\nbatch_size = -5\n")
    write(f"{out}/toml/huge-int.toml", "[train]\nsteps = 99999999999999999999999\n")
    write(f"{out}/toml/duplicate.toml", "[train]\nsteps = 3\nsteps = 4\n")
    write(f"{out}/toml/unclosed.toml", "[train\nsteps = 3\n")
    write(f"{out}/toml/deep.toml", "a = " + "[" * 5000 + "]" * 5000 + "\n")
    write(f"{out}/toml/nan-lr.toml", "[train]\nlr = nan\n")
    write(f"{out}/toml/binary.toml", bytes(range(256)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    main(sys.argv[1])
