"""What every `physflow` command module shares: the console, the catalog root, failing with a message,
running a flow with progress bars, and printing tables.

This module imports no Prefect and no stage, so a command that only reads (catalog, weights, one-shot
enrich) starts in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console() if sys.stdout.isatty() else Console(width=200)

SETTLE_OPTION_HELP = ("Seconds a local file must have gone unmodified to be taken (default 0: any file); younger "
                      "ones are skipped and left for a later run (an inbox filled by slow copies).")
"""`--settle-s` of the commands that ingest (curate, ingest, pipeline): the flows' `settle_s`."""


def catalog_root(ctx: typer.Context) -> str:
    """The catalog root chosen by `physflow --catalog` (or PHYSFLOW_CATALOG, or the default)."""
    return str(ctx.obj["catalog"])


def fail(message: str) -> NoReturn:
    """End the command with `message` and exit status 2 (a bad run, not a crash)."""
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(2)


def run_flow(flow_fn: Any, params: Any, errors: tuple[type[BaseException], ...] = (ValueError,)) -> Any:
    """Run a flow with progress bars; an error of the kinds named (a bad run: missing weights, bad inputs)
    ends the command with its message and exit status 2, before or instead of a traceback."""
    from physflow.data_catalog.storage import StorageWriteError

    try:
        with command_run():
            return flow_fn(params)
    except (*errors, StorageWriteError) as exc:
        fail(str(exc))


@contextlib.contextmanager
def command_run(transient: bool = False) -> Iterator[None]:
    """How a command runs its flows: a progress bar per stage shard (`transient`: cleared at the end) and no
    Prefect heartbeats unless the user set them (`command_heartbeats`)."""
    from physflow.flows.progress import rich_progress

    with rich_progress(transient=transient), command_prefect():
        yield


@contextlib.contextmanager
def command_prefect() -> Iterator[None]:
    """How a command's process runs its flows against Prefect: without heartbeats unless the user set them
    (`command_heartbeats`), and through one API client for all its flow runs when `client_ahead` made one."""
    with command_heartbeats(), _client_made_ahead():
        yield


class _Ahead:
    """The Prefect client a command makes on a thread of its own (`client_ahead`)."""

    thread: threading.Thread | None = None
    context: Any = None  # a prefect.context.SyncClientContext, its client entered and the server's version checked
    url: str | None = None  # the API it serves


def _api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def client_ahead() -> None:
    """Make the Prefect API client this command's flow runs will use (`command_prefect`), on a thread of its own,
    while the command goes on importing the flow. A flow run otherwise makes its own client as it starts: loading
    the certificate bundle for the client's TLS context (21-26 ms of CPU here) and asking the server for its API
    version, on the path of every run. Only where a Prefect server is configured (PREFECT_API_URL): without one,
    Prefect starts a temporary server for the run, and a command that fails before its flow would have started one
    for nothing. When making it fails (a server that does not answer), the flow run makes its own client and
    reports the failure as it would."""
    # Prefect's client modules are imported here, not on the thread: two threads importing one package's modules
    # can deadlock (Python then fails one import). The thread imports nothing more.
    import prefect.context
    import prefect.settings  # noqa: F401

    if _Ahead.thread is None:  # in the caller's context: its Prefect settings
        _Ahead.thread = threading.Thread(target=contextvars.copy_context().run, args=(_make_client,),
                                         name="physflow-client-ahead", daemon=True)
        _Ahead.thread.start()


def _make_client() -> None:
    from prefect.context import SyncClientContext
    from prefect.settings import get_current_settings

    url = _api_url()
    if not url:
        return
    try:
        context = SyncClientContext()
    except Exception:  # left to the flow run, which reports it
        return
    try:
        context.client.__enter__()
        if get_current_settings().client.server_version_check_enabled:
            context.client.raise_for_api_version_mismatch_once()  # once per process: the run's own check is free
    except Exception:
        context.client.__exit__(None, None, None)
        return
    _Ahead.context, _Ahead.url = context, url


@contextlib.contextmanager
def _client_made_ahead() -> Iterator[None]:
    """The block's flow runs share the client `client_ahead` made (Prefect's engine takes the current
    SyncClientContext's), closed when the block ends; without one, each run makes its own."""
    thread, _Ahead.thread = _Ahead.thread, None
    if thread is not None:
        thread.join()
    context, _Ahead.context = _Ahead.context, None
    if context is not None and _Ahead.url != _api_url():  # made for another server (settings changed since)
        context.client.__exit__(None, None, None)
        context = None
    if context is None:
        yield
        return
    try:
        with context:
            yield
    finally:
        context.client.__exit__(None, None, None)  # entered once more on the thread


def command_heartbeats() -> contextlib.AbstractContextManager[Any]:
    """Prefect's flow-run heartbeats, off for the flow a command runs in its own process unless the user set
    their frequency (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, or a Prefect profile).

    Heartbeats feed the automation that marks a deployment's vanished flow runs as crashed; a command's run ends
    with its process, in front of the user. Prefect's engine waits out the heartbeat thread's current
    one-second sleep when a flow returns, so with them every command took up to a second longer (a warm
    `physflow curate` about 1.2 s instead of 0.9 s). Runs started from a deployment (prefect.yaml) do not come
    through here and keep Prefect's default."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    if "heartbeat_frequency" in get_current_settings().flows.model_fields_set:
        return contextlib.nullcontext()
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


def print_arrow(table: Any, title: str | None = None, limit: int = 50) -> None:
    """Print a pyarrow table as a rich table (first `limit` rows)."""
    out = Table(title=title, show_lines=False, header_style="bold")
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.slice(0, limit).to_pylist():
        out.add_row(*("" if v is None else escape(_short(v)) for v in row.values()))
    console.print(out)
    if table.num_rows > limit:
        console.print(f"... {table.num_rows - limit} more rows (use --limit)")


def _short(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def print_stage_summary(refs: list[Any]) -> None:
    """One line per stage: rows, shards, seconds of work, errors and rejects by reason."""
    from physflow.flows.runtime import summarize  # only after a flow ran: Prefect is loaded

    by_stage: dict[str, list[Any]] = {}
    for ref in refs:
        by_stage.setdefault(ref.stage, []).append(ref)
    for stage, stage_refs in by_stage.items():
        s = summarize(stage_refs)
        problems = ", ".join(f"{k}: {v}" for k, v in {**s["errors"], **s["rejected"]}.items()) or "none"
        reused = f", {s['reused_items']} item(s) reused from earlier artifacts" if s["reused_items"] else ""
        console.print(f"[bold]{stage}[/]: {s['rows']} rows in {s['shards']} shard(s), {s['seconds']} s of work"
                      f"{reused}; errors/rejects: {problems}")


def show_tables(root: str) -> None:
    """The catalog's tables with rows, artifacts and bytes."""
    from physflow.data_catalog import Catalog
    from physflow.data_catalog.prune import size_text, superseded_count

    catalog = Catalog(root)
    table = Table(title=f"catalog {Path(root).resolve()}", header_style="bold")
    for col in ("table", "rows", "artifacts", "bytes"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for row in catalog.tables():
        table.add_row(row["table"], str(row["rows"]), str(row["artifacts"]), f"{row['bytes']:,}")
    console.print(table)
    count, size = superseded_count(catalog)
    if count:
        console.print(f"{count} superseded artifact(s) ({size_text(size)}) hold other configs' results, kept so that "
                      "a config changed back is Cached: `physflow catalog prune --dry-run` shows what pruning them "
                      "and the files only they reference frees")
