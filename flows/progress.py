"""Where stage progress goes: the CLI installs a rich progress bar; elsewhere progress is dropped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Sink = Callable[[str, float, int], None]  # (label, done, total): done may count parts of a shard
_sink: Sink | None = None


def reporter(label: str) -> Callable[[float, int], None] | None:
    """A stage progress callback (done, total) that forwards to the installed sink, or None when there is none."""
    sink = _sink
    if sink is None:
        return None
    return lambda done, total: sink(label, done, total)


@contextmanager
def rich_progress(transient: bool = False) -> Iterator[None]:
    """Show one rich progress bar per stage shard while the block runs."""
    global _sink
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars: dict[str, int] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=transient,
    ) as progress:
        def sink(label: str, done: int, total: int) -> None:
            if label not in bars:
                bars[label] = progress.add_task(label, total=total)
            progress.update(bars[label], completed=done, total=total)

        _sink = sink
        try:
            yield
        finally:
            _sink = None
