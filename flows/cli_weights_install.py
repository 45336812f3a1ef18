"""`physflow weights install-defaults`: the BlazePose and hand model files, fetched through pip at set-up time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def install_defaults(
    folder: Annotated[Path | None, typer.Option("--dir", help="Folder to fill (default: $PHYSFLOW_WEIGHTS_DIR, "
                                                "else $XDG_DATA_HOME/physflow/weights).")] = None,
    wheel: Annotated[Path | None, typer.Option(help="A mediapipe-0.10.21 wheel already on disk (no download).")] = None,
    optional: Annotated[bool, typer.Option("--optional", help="Exit 0 when the files cannot be fetched "
                                           "(set-up scripts: the classical fallback is used then).")] = False,
) -> None:
    """Fetch the mediapipe 0.10.21 wheel with pip (no install), keep its four pose and hand TFLite files."""
    import os

    from physflow.flows.cli_common import console
    from physflow.models.default_weights import DEFAULT_FILES, WHEEL, InstallError, default_dir
    from physflow.models.registry import WEIGHTS_DIR_ENV

    target = folder or (Path(os.environ[WEIGHTS_DIR_ENV]) if os.environ.get(WEIGHTS_DIR_ENV) else default_dir())
    try:
        from physflow.models.default_weights import install_defaults as install

        paths = install(target, wheel)
    except (InstallError, OSError) as exc:
        console.print(f"[yellow]default pose and hand models not installed[/]: {exc}. Without them the pose "
                      f"stage uses YOLO-pose when registered, else writes a 'no pose model' row per clip, and "
                      f"hands are skipped. Retry with network access to the package index ({WHEEL}), or pass "
                      f"--wheel with the wheel file.")
        raise typer.Exit(0 if optional else 1) from None
    for f, path in zip(DEFAULT_FILES, paths, strict=True):
        console.print(f"{f.name}: {path} (sha256 {f.sha256[:12]}...)")


def register(app: typer.Typer) -> None:
    from physflow.flows.cli_catalog import weights_app

    weights_app.command("install-defaults")(install_defaults)
