import os
import shutil
from pathlib import Path

import pytest

from physflow.flows.inputs import NOT_A_FILE, NOT_A_VIDEO, InputError, resolve_inputs


def test_folder_glob_list_and_file(demo_videos, tmp_path):
    folder = demo_videos[0].parent
    (folder / "README.txt").write_text("not a video")
    files, skipped = resolve_inputs([str(folder)])
    assert len(files) == 4  # the truncated mp4 is still a video by content
    assert [(s.path, s.reason) for s in skipped] == [(str(folder / "README.txt"), NOT_A_VIDEO)]
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# demo\n{demo_videos[0]}\n\n{demo_videos[1]}\n")
    files, _ = resolve_inputs([str(listing), str(folder / "*.mp4"), str(demo_videos[3])])
    assert files[0] == str(demo_videos[0]) and str(demo_videos[3]) in files
    assert len(files) == len(set(files)) == 4


def test_bad_inputs_fail_before_work(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        resolve_inputs([str(tmp_path / "nope")])
    with pytest.raises(InputError, match="matches no file"):
        resolve_inputs([str(tmp_path / "*.mkv")])


@pytest.mark.timeout(60)  # before: sniffing the pipe waited for a writer forever
def test_pipes_and_devices_are_skipped_unread(demo_videos, tmp_path):
    """A named pipe in an inbox (no writer), and a link to /dev/zero (endless bytes) are skipped with their reason,
    not read: sniffing the pipe blocked forever, hashing /dev/zero would never end. Named on their own, or in a
    list, they fail the run before work, saying what they are."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(demo_videos[0], folder / "a.mp4")
    os.mkfifo(folder / "b.mp4")
    (folder / "c.mp4").symlink_to("/dev/zero")
    files, skipped = resolve_inputs([str(folder)])
    assert files == [str(folder / "a.mp4")]
    assert [(Path(s.path).name, s.reason) for s in skipped] == [("b.mp4", NOT_A_FILE), ("c.mp4", NOT_A_FILE)]
    files, skipped = resolve_inputs([str(folder / "*.mp4")])
    assert files == [str(folder / "a.mp4")] and len(skipped) == 2
    with pytest.raises(InputError, match="named pipe"):
        resolve_inputs([str(folder / "b.mp4")])
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / 'a.mp4'}\n{folder / 'c.mp4'}\n")
    with pytest.raises(InputError, match=r"list.txt:2: .*named pipe"):
        resolve_inputs([str(listing)])


def test_unfinished_downloads_are_skipped_by_name(demo_videos, tmp_path):
    """A browser's or transfer tool's file still arriving (`.part`, `.crdownload`, ...) starts like the video it
    will be: in a folder or glob it is skipped with why, unread; named on its own it is ingested as asked."""
    from physflow.flows.inputs import UNFINISHED

    folder = tmp_path / "downloads"
    folder.mkdir()
    for name in ("done.mp4", "arriving.mp4.part", "other.mp4.crdownload", "third.MP4.FILEPART"):
        shutil.copy(demo_videos[0], folder / name)
    files, skipped = resolve_inputs([str(folder)])
    assert files == [str((folder / "done.mp4").resolve())]
    assert sorted((Path(s.path).name, s.reason) for s in skipped) == [
        ("arriving.mp4.part", UNFINISHED), ("other.mp4.crdownload", UNFINISHED), ("third.MP4.FILEPART", UNFINISHED)]
    files, skipped = resolve_inputs([str(folder / "*.part")])
    assert files == [] and len(skipped) == 1
    files, _ = resolve_inputs([str(folder / "arriving.mp4.part")])
    assert files == [str((folder / "arriving.mp4.part").resolve())]


def test_settle_leaves_files_modified_lately_for_a_later_run(demo_videos, tmp_path):
    """With `settle_s`, a file (or a folder of frames whose newest frame) modified less than that long ago is
    skipped with its age; older files and object-store URIs pass, in order."""
    import time

    from physflow.flows.inputs import settled

    old, new, frames = tmp_path / "old.mp4", tmp_path / "new.mp4", tmp_path / "frames"
    shutil.copy(demo_videos[0], old)
    shutil.copy(demo_videos[1], new)
    frames.mkdir()
    for n in range(3):
        (frames / f"f{n:03d}.png").write_bytes(b"png")
    now = time.time()
    os.utime(old, (now - 120, now - 120))
    os.utime(frames, (now - 120, now - 120))
    os.utime(frames / "f000.png", (now - 120, now - 120))  # the others were just written
    uri = "s3://bucket/clip.mp4"
    kept, young = settled([str(old), str(new), str(frames), uri], 30.0, now=now)
    assert kept == [str(old), uri]
    assert [s.path for s in young] == [str(new), str(frames)]
    assert all("under settle_s (30 s)" in s.reason for s in young)
    assert settled([str(new)], 0.0)[0] == [str(new)]
