import pytest

from physflow.flows.inputs import NOT_A_VIDEO, InputError, resolve_inputs


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
