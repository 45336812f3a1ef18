"""Export's libx264 preset: encoding time, bytes and quality of the same clips at each preset.

    .venv/bin/python benchmarks/export_preset.py [VIDEO_FOLDER] [--presets ultrafast,superfast,veryfast,faster]

Every clip analysis finds in the videos (at least 8 frames; broken files give what decodes) is decoded once at the
export size (short side 256 px, as export scales it) and kept in memory; then each preset encodes all of them as
export does (`ExportConfig.crf`, one thread, `clip_export.config.x264_params`), and the script prints per preset
the CPU seconds of encoding alone, the bytes written, and the luma PSNR of the decoded clips against the frames encoded
(of the squared error pooled over all their pixels). Each preset also runs at one CRF lower, which tells what a preset costs at equal bytes (the smaller preset
at the lower CRF against the larger one).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.flows.inputs import resolve_inputs
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.clip_export import ExportConfig
from physflow.stages.clip_export.config import x264_params
from physflow.stages.clip_export.frames import clip_frames
from physflow.stages.clip_export.remux import packet_index
from physflow.stages.common.video_io import probe, write_video

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "videos"


def clips(files: list[str], short_side: int, max_frames: int) -> list[tuple[float, list[np.ndarray]]]:
    """(rate, I420 frames at the export size) of every clip of at least 8 frames analysis finds in `files`."""
    stage, out = AnalyzeStage(AnalyzeConfig()), []
    for path in files:
        try:
            info = probe(path, decode="none")
            if info.error:
                continue
            video = {"video_id": Path(path).name, "uri": path, "fps": info.fps, "width": info.width,
                     "height": info.height, "n_frames": info.n_frames}
            rows = [r for r in stage.process(video) if not r.get("error") and r["end_frame"] - r["start_frame"] >= 8]
            spans = [(r["start_frame"], min(r["end_frame"], r["start_frame"] + max_frames)) for r in rows]
            for (start, end), frames in zip(spans, clip_frames(path, packet_index(path), spans, short_side),
                                            strict=True):
                arrays = [f.to_ndarray() for _, f in frames]
                if len(arrays) == end - start:
                    out.append((float(video["fps"] or 25.0), arrays))
        except (av.FFmpegError, ValueError):
            continue  # a file analysis or export cannot read adds no clip
    return out


def encode(all_clips: list[tuple[float, list[np.ndarray]]], preset: str, crf: int) -> tuple[float, int, float]:
    """CPU seconds encoding, bytes written and luma PSNR (dB, of the squared error over every pixel of every clip)
    of `all_clips` at `preset` and `crf`."""
    seconds, size, squared, pixels = 0.0, 0, 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, (fps, frames) in enumerate(all_clips):
            path = Path(tmp) / f"{k}.mp4"
            start = time.process_time()
            write_video(path, frames, fps, crf=crf, frame_format="yuv420p", preset=preset,
                        x264_params=x264_params(preset))
            seconds += time.process_time() - start
            size += path.stat().st_size
            with av.open(str(path)) as c:
                for decoded, source in zip(c.decode(video=0), frames, strict=False):
                    rows = source.shape[0] * 2 // 3
                    squared += float(((decoded.to_ndarray()[:rows].astype(np.float64) - source[:rows]) ** 2).sum())
                    pixels += rows * source.shape[1]
    return seconds, size, 10 * float(np.log10(255.0**2 / max(squared / pixels, 1e-10)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT, help=f"videos (default {DEFAULT})")
    parser.add_argument("--presets", default="ultrafast,superfast,veryfast,faster", help="comma-separated presets")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    config = ExportConfig()
    files, _ = resolve_inputs([str(args.folder)])
    all_clips = clips(files, config.short_side, config.max_frames)
    print(f"{len(all_clips)} clips, {sum(len(f) for _, f in all_clips)} frames at short side {config.short_side} px; "
          f"CRF {config.crf} (and {config.crf - 1}); default preset {config.preset}")
    results = {}
    for preset in args.presets.split(","):
        for crf in (config.crf, config.crf - 1):
            results[preset, crf] = encode(all_clips, preset, crf)
            seconds, size, psnr = results[preset, crf]
            print(f"{preset:>10} crf {crf}: encode {seconds:6.2f} CPU-s, {size / 1e6:7.3f} MB, {psnr:5.2f} dB")
    base = results.get(("veryfast", config.crf))
    if base:
        for (preset, crf), (seconds, size, psnr) in results.items():
            if crf == config.crf:
                print(f"{preset:>10} / veryfast at CRF {crf}: time {seconds / base[0]:.2f}x, bytes {size / base[1]:.2f}x, "
                      f"PSNR {psnr - base[2]:+.2f} dB")


if __name__ == "__main__":
    main()
