#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/seeds/<target>/).

Run from anywhere: python3 fuzz/make_seeds.py. Deterministic; the files are
small on purpose (libFuzzer mutates small inputs faster).
  arff:  AVEC 2016 gold-standard layout (FORMATS.md) and ARFF variants
  wav:   tiny WAV files in the formats the reader accepts (hand-packed headers)
  graph: copies of the repository's graphs/*.toml and graphs/paper/*.toml
"""
import math
import shutil
import struct
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
SEEDS = FUZZ / "seeds"


def arff_seeds():
    out = SEEDS / "arff"
    out.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"dev_1,{i * 0.04:.2f},{0.01 * math.sin(i):.6f}\n" for i in range(6))
    (out / "release_arousal.arff").write_text(
        "@relation GOLDSTANDARD_AROUSAL\n\n"
        "@attribute Instance_name string\n@attribute frameTime numeric\n"
        "@attribute GoldStandard numeric\n\n\n@data\n\n" + rows
    )
    (out / "quoted_comments.arff").write_text(
        "% AVEC 2016 gold standard, valence\n"
        "@RELATION 'GOLDSTANDARD VALENCE'\n"
        "@ATTRIBUTE \"Instance_name\" STRING\n"
        "@attribute 'frameTime' REAL\n"
        "@attribute GoldStandard numeric % the label\n"
        "@data\n"
        "'train_1',0,-0.0079248\n"
        "\"train_1\",0.04,4.085e-04\n"
        "train_1, 0.08 ,?\n"
    )
    (out / "nominal_date.arff").write_text(
        "@relation other\n"
        "@attribute name string\n"
        "@attribute when date \"yyyy-MM-dd HH:mm:ss\"\n"
        "@attribute mood {low, 'mid high', \"top\"}\n"
        "@attribute frameTime integer\n"
        "@attribute value numeric\n"
        "@data\n"
        "a,\"2016-01-01 00:00:00\",low,0,1.5\n"
        "'b\\'c',?,'mid high',1,-inf\n"
    )


def wav(fmt_tag, channels, rate, bits, frames, extensible=False):
    """A RIFF/WAVE file with `frames` frames of a ramp."""
    block = channels * bits // 8
    if fmt_tag == 3:
        data = b"".join(struct.pack("<f", (i % 17) / 17.0 - 0.5) for i in range(frames * channels))
    elif bits == 8:
        data = bytes((128 + i * 7) % 256 for i in range(frames * channels))
    else:
        n = bits // 8
        data = b"".join(
            ((i * 1237 - 3000) % (1 << bits) - (1 << (bits - 1))).to_bytes(n, "little", signed=True)
            for i in range(frames * channels)
        )
    if extensible:
        sub = (b"\x01\x00" if fmt_tag == 1 else b"\x03\x00") + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0) + sub
    else:
        fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if fmt_tag == 3 and not extensible:
        chunks += b"fact" + struct.pack("<II", 4, frames)
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def wav_seeds():
    out = SEEDS / "wav"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mono16_16k.wav").write_bytes(wav(1, 1, 16000, 16, 32))
    (out / "stereo16_44k1.wav").write_bytes(wav(1, 2, 44100, 16, 16))
    (out / "mono24_48k.wav").write_bytes(wav(1, 1, 48000, 24, 16))
    (out / "mono8_8k.wav").write_bytes(wav(1, 1, 8000, 8, 32))
    (out / "float32_22k05.wav").write_bytes(wav(3, 1, 22050, 32, 16))
    (out / "extensible_stereo32.wav").write_bytes(wav(1, 2, 16000, 32, 8, extensible=True))
    # Truncated: the data chunk declares more than the file holds.
    (out / "truncated.wav").write_bytes(wav(1, 1, 16000, 16, 32)[:60])


def graph_seeds():
    out = SEEDS / "graph"
    out.mkdir(parents=True, exist_ok=True)
    for src in sorted((REPO / "graphs").glob("*.toml")) + sorted((REPO / "graphs" / "paper").glob("*.toml")):
        prefix = "paper_" if src.parent.name == "paper" else ""
        shutil.copyfile(src, out / f"{prefix}{src.name}")


if __name__ == "__main__":
    arff_seeds()
    wav_seeds()
    graph_seeds()
    for d in sorted(SEEDS.iterdir()):
        print(d.relative_to(FUZZ), len(list(d.iterdir())), "files")
