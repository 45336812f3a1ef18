"""Analyze: decode each video once at a working size; shots, clip windows and quality measures -> `clips` rows."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import av
import cv2
import numpy as np
import pyarrow as pa

from physflow.data_catalog.schemas import CLIP_MEASURES
from physflow.stages.analyze.config import AnalyzeConfig
from physflow.stages.analyze.quality.measures import FrameMeasures
from physflow.stages.analyze.shots.detect import ShotDetector, segments, shots_frame
from physflow.stages.base import Stage
from physflow.stages.common.prefetch import prefetched
from physflow.stages.common.video_io import iter_working_frames, uneven

VideoRow = dict[str, Any]  # a `videos` row: video_id, uri, fps, width, height, ...
_FULL_RANGE = np.clip((np.arange(256) - 16) * 255.0 / 219.0, 0, 255).round().astype(np.uint8)
FRAME_COST = 500_000
"""A frame's cost beyond its pixels, in pixels (`AnalyzeStage.cost`): on one core, about 0.45 ms a frame beside
about 1 ms a million pixels (the shared real videos, 112x80 to 1280x720)."""


def clip_id(video_id: str, start: int, end: int) -> str:
    return f"{video_id}:{start}-{end}"


class AnalyzeStage(Stage[AnalyzeConfig, VideoRow]):
    name = "analyze"
    # 2: motion magnitudes in float64 (the same bits on any task runner); 3: own table clip_measures;
    # 4: shot detection on frames scaled to shots.width; 5: the working sizes are long sides (a portrait frame is
    # scaled as its landscape turn would be), and frames are measured as shown (turned by the display rotation,
    # in square pixels); the frames a damaged video decodes before the damage give clips; 6: blur reads area-averaged
    # frames (a bilinear reduction's aliasing made a large source read up to three times sharper); a full-range
    # source is measured in video range (its luma was stretched twice); interlaced frames are deinterlaced; 7: HDR
    # (PQ, HLG) frames are measured in SDR (read as stored they measured dim and soft); a variable-rate video's clip
    # times come from its timestamps (counted at the mean rate, a clip where the rate dropped read short); 8: blur,
    # pHash, motion and camera measured at 3 frames per second by default, not 5 (quality.config.SAMPLE_FPS)
    VERSION = 8
    Config = AnalyzeConfig
    table = CLIP_MEASURES
    input_columns = ("video_id", "uri", "fps", "width", "height", "error")
    cpu_bound = True

    def items(self, inputs: Sequence[VideoRow]) -> Sequence[VideoRow]:
        return [v for v in inputs if not v.get("error")]

    def identity(self, video: VideoRow) -> dict[str, Any]:
        """The video's content and probed facts; not where the file lies."""
        return {k: v for k, v in video.items() if k not in ("uri", "bytes")}

    def cost(self, video: VideoRow) -> float:
        """Work to analyse the video, in decoded pixels: its frames (or seconds at 25 fps when unknown) times its
        frame area plus `FRAME_COST` a frame (each frame's measures and scaling cost about that much whatever its
        size: a 112x80 video of 174 frames took as long as a 426x240 one of 310, not a twentieth)."""
        frames = video.get("n_frames") or (video.get("duration_s") or 1.0) * (video.get("fps") or 25.0)
        return float(frames) * (float(video.get("width") or 1) * float(video.get("height") or 1) + FRAME_COST)

    def process(self, video: VideoRow) -> Iterable[dict[str, Any]]:
        fps = float(video.get("fps") or 25.0)
        shots = ShotDetector(self.config.shots, fps)
        measures = FrameMeasures(self.config.quality, fps)
        times: list[float | None] = []
        n, broken = self._feed(video, shots, measures, times)
        seconds = frame_seconds(times, fps)  # one per frame fed
        if broken:  # the rest of the video, as an error row of its own
            yield {"clip_id": clip_id(video["video_id"], n, max(n, video.get("n_frames") or 0)),
                   "video_id": video["video_id"], "error": broken}
        for seg in segments(shots.boundaries(), n, fps, self.config.shots):
            yield {
                "clip_id": clip_id(video["video_id"], seg.start, seg.end), "video_id": video["video_id"],
                "start_frame": seg.start, "end_frame": seg.end,
                "start_s": round(seconds[seg.start], 6), "end_s": round(seconds[seg.end], 6),
                "duration_s": round(seconds[seg.end] - seconds[seg.start], 6), "shot_index": seg.shot_index,
                "boundary": seg.boundary, "width": video.get("width"), "height": video.get("height"), "fps": fps,
                **measures.clip(seg.start, seg.end),
            }

    def _feed(self, video: VideoRow, shots: ShotDetector, measures: FrameMeasures, times: list[float | None]
              ) -> tuple[int, str | None]:
        """Decode the video once into the shot detector and the measures, each frame's timestamp into `times`:
        the frames fed, and why decoding stopped early (None: it did not). A truncated or damaged file keeps the
        frames before the damage."""
        n = 0
        # Scaled planar YUV, colour-converted small by OpenCV: about half the cost of asking swscale for BGR; the
        # grey frame is the Y plane stretched from video range (16-235) to 0-255.
        frames = iter_working_frames(video["uri"], width=self.config.width // 2 * 2, interpolation=self.config.scaler,
                                     threads=self.config.threads, deblock=self.config.deblock,
                                     detail=measures.reads_detail)
        try:
            for frame in prefetched(frames, self.config.prefetch):
                i, yuv = frame.index, frame.i420
                gray = cv2.LUT(yuv[: yuv.shape[0] * 2 // 3], _FULL_RANGE)
                detail = None if frame.detail is None else cv2.LUT(frame.detail, _FULL_RANGE)
                shots.feed(i, shots_frame(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420), self.config.shots.width),
                           measures.feed(i, gray, detail))
                times.append(frame.time)
                n = i + 1
        except av.FFmpegError as exc:
            if n == 0:
                raise
            # The error's type, not its text: which FFmpeg call reports the damage depends on decoder threads.
            listed = f" of the {video['n_frames']} listed" if (video.get("n_frames") or 0) > n else ""
            return n, f"decode failed after frame {n}{listed}: {type(exc).__name__}"
        if n == 0:
            raise ValueError("no frame decodes")
        return n, None

    def error_rows(self, video: VideoRow, reason: str) -> list[dict[str, Any]]:
        return [{"clip_id": clip_id(video["video_id"], 0, 0), "video_id": video["video_id"], "error": reason}]


def frame_seconds(times: Sequence[float | None], fps: float) -> list[float]:
    """Seconds from the first frame to the start of each frame, and to the end of the last (one more value than
    `times`, the frames' timestamps). A video shown at an even rate counts frames at `fps`. A variable-rate one
    (a phone's in low light, a screen recording; `video_io.uneven`, as export tells them) is timed by its
    timestamps when every frame has one and they rise: counted at its mean rate, a clip where the rate halved read
    half as long as it plays, and one where it ran at full rate longer."""
    timed = (len(times) > 1 and None not in times
             and all(b > a for a, b in itertools.pairwise(times)))  # type: ignore[operator]
    if not timed or not uneven(times, 1 / fps):  # type: ignore[arg-type]
        return [i / fps for i in range(len(times) + 1)]
    first, last = times[0], times[-1]
    return [t - first for t in times] + [last - first + (last - times[-2])]  # type: ignore[operator]


def run(inputs: Sequence[VideoRow], config: AnalyzeConfig) -> pa.Table:
    return AnalyzeStage(config).run(inputs)
