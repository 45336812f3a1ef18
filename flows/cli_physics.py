"""`physflow enrich`: physics context (DiffPhy reasoning, WISA labels) for prompts and captions."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

API_KEY_ENV = "PHYSFLOW_LLM_API_KEY"


def register(app: typer.Typer) -> None:
    app.command()(enrich)


def enrich(  # noqa: PLR0917 (Typer options are parameters)
    ctx: typer.Context,
    prompts: Annotated[list[str] | None, typer.Argument(help='Prompts, e.g. "a glass falls off a table".')] = None,
    captions: Annotated[list[str] | None, typer.Option(
        "--captions", help="Captions table (.csv/.parquet), sidecar (.txt/.json), or videos/folders with sidecars.")] = None,
    backend: Annotated[str, typer.Option(help="rules | openai | local (GGUF from weights 'llm').")] = "rules",
    base_url: Annotated[str | None, typer.Option(help="openai: endpoint, e.g. http://127.0.0.1:8000/v1.")] = None,
    model: Annotated[str, typer.Option(help="openai: model name.")] = "",
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the openai API key.")] = API_KEY_ENV,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="openai: requests in flight.")] = 8,
    shard_size: Annotated[int, typer.Option(min=1, help="Average texts per cached shard.")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON lines.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows to print.")] = 20,
) -> None:
    """Reason about the physics of prompts or captions and print the context (cached in the catalog)."""
    from physflow.flows import env
    from physflow.flows.cli import _catalog_root, _fail, console, print_stage_summary, run_flow

    env.prefect_home(_catalog_root(ctx)).mkdir(parents=True, exist_ok=True)  # a fresh catalog: Prefect needs it
    from pydantic import ValidationError

    from physflow.flows.inputs import InputError
    from physflow.flows.physics_context import PhysicsParams, physics_context_flow
    from physflow.models.registry import MissingWeightsError
    from physflow.stages.physics_context import ServiceError
    from physflow.stages.physics_context.captions import CaptionInputError

    key = os.environ.get(api_key_env) or os.environ.get("OPENAI_API_KEY")
    try:
        params = PhysicsParams(
            prompts=prompts or [], captions=captions or [], catalog=_catalog_root(ctx), shard_size=shard_size,
            physics={"backend": backend, "base_url": base_url, "model": model, "api_key": key,
                     "concurrency": concurrency},
        )
    except ValidationError as exc:
        _fail(str(exc))
    refs = run_flow(physics_context_flow, params, (InputError, CaptionInputError, ServiceError, MissingWeightsError))
    if not as_json:
        print_stage_summary(refs)
    _print_rows(refs, params.catalog, as_json, limit, console)


def _print_rows(refs: list[Any], catalog_root: str, as_json: bool, limit: int, console: Any) -> None:
    from physflow.data_catalog import Catalog

    store = Catalog(catalog_root).artifacts
    rows = [row for ref in refs for row in store.read(ref.stage, ref.key).to_pylist()][:limit]
    for row in rows:
        if as_json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        console.rule(row["prompt"][:100] or "(empty)")
        if row["error"]:
            console.print(f"[bold red]error:[/] {row['error']}")
            continue
        props = json.loads(row["properties"])
        console.print(f"[bold]categories:[/] {', '.join(row['categories']) or 'none'}   "
                      f"[bold]motion relevance:[/] {row['motion_relevance']:.2f}   [bold]quantities:[/] {row['quantities']}")
        for name in ("principles", "initiators", "affected", "interactions"):
            console.print(f"[bold]{name}:[/] {'; '.join(props[name]) or '-'}")
        console.print("[bold]phenomena:[/]\n" + "\n".join(f"  - {p}" for p in row["phenomena"]))
        console.print(f"[bold]enhanced prompt:[/] {row['enhanced_prompt']}")
