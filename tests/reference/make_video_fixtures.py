"""Writes the small video files the `video` feature's tests read (PyAV, from PyPI `av`):
16 frames of 48 x 32 where frame k is a grey level of 8 + 14 k with a white square moving
right by 2 px per frame, as H.264 in MP4 and MPEG-4 part 2 in AVI.

    .venv/bin/python -m pip install av && .venv/bin/python tests/reference/make_video_fixtures.py
"""
import pathlib

import av
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/ssl-vision/tests/fixtures"


def frames():
    for k in range(16):
        img = np.full((32, 48, 3), 8 + 14 * k, dtype=np.uint8)
        img[12:20, 2 + 2 * k : 10 + 2 * k] = 255
        yield img


def write(name, codec, options):
    path = OUT / name
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=8)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.options = options
        for img in frames():
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    print(path, path.stat().st_size, "bytes")


write("moving_square.mp4", "libx264", {"crf": "10", "preset": "veryslow", "bf": "2"})
write("moving_square.avi", "mpeg4", {"qscale": "2"})
