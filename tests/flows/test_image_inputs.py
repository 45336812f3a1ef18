"""Animated GIF/WebP files and folders of numbered frames are videos; every skipped file is named with why.

The media are made here from the first frames of a real clip (../shared/data/real).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from physflow.data_catalog import Catalog
from physflow.flows.inputs import NOT_A_VIDEO, STILL_IMAGE, resolve_inputs
from physflow.stages.common.video_io import iter_frames, sniff_container

N_FRAMES = 8


@pytest.fixture(scope="module")
def media(real_videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An input folder: an animated GIF, an animated WebP, a folder of numbered PNG frames, a still PNG and
    a text file."""
    root = tmp_path_factory.mktemp("image-inputs")
    frames = [Image.fromarray(rgb) for _, rgb in iter_frames(real_videos / "sam2_05_default_juggle.mp4",
                                                             end=N_FRAMES, width=160)]
    frames[0].save(root / "juggle.gif", save_all=True, append_images=frames[1:], duration=40, loop=0)
    frames[0].save(root / "juggle.webp", save_all=True, append_images=frames[1:], duration=40, loop=0)
    (root / "frames").mkdir()
    for i, frame in enumerate(frames, start=1):
        frame.save(root / "frames" / f"img_{i:05d}.png")
    frames[0].save(root / "poster.png")
    (root / "notes.txt").write_text("not a video")
    return root


def test_resolve_names_videos_and_skipped_files(media: Path):
    files, skipped = resolve_inputs([str(media)])
    assert sorted(files) == [str(media / "frames"), str(media / "juggle.gif"), str(media / "juggle.webp")]
    assert sniff_container(media / "juggle.webp") == "webp"
    assert sorted((Path(s.path).name, s.reason) for s in skipped) == [("notes.txt", NOT_A_VIDEO),
                                                                      ("poster.png", STILL_IMAGE)]


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(180)
def test_gif_and_frames_folder_become_videos_rows(media: Path, catalog_root: Path):
    from physflow.flows.ingest import IngestParams, ingest_flow

    ingest_flow(IngestParams(inputs=[str(media)], catalog=str(catalog_root), frames_fps=12.5))
    rows = {Path(r["uri"]).name: r for r in Catalog(str(catalog_root)).query("SELECT * FROM videos").to_pylist()}
    gif, folder = rows["juggle.gif"], rows["frames"]
    assert gif["error"] is None and gif["container"] == "gif" and gif["n_frames"] == N_FRAMES
    assert folder["error"] is None and folder["container"] == "image2" and folder["codec"] == "png"
    assert folder["n_frames"] == N_FRAMES and folder["fps"] == pytest.approx(12.5)
    assert folder["duration_s"] == pytest.approx(N_FRAMES / 12.5)
    assert (folder["width"], folder["height"]) == (gif["width"], gif["height"]) == (160, 90)
    # the folder decodes like any video: the same frames that were written
    first = next(iter_frames(folder["uri"]))[1]
    assert np.array_equal(first, np.asarray(Image.open(media / "frames" / "img_00001.png").convert("RGB")))
    # animated WebP: FFmpeg here cannot decode it, so physflow decodes it with Pillow; the same frames
    webp = rows["juggle.webp"]
    assert webp["error"] is None and webp["codec"] == "webp" and webp["n_frames"] == N_FRAMES
    assert webp["fps"] == pytest.approx(25.0)  # 40 ms per frame
    with Image.open(media / "juggle.webp") as image:
        image.seek(3)
        expected = np.asarray(image.convert("RGB"))
    assert np.array_equal(dict(iter_frames(webp["uri"]))[3], expected)
