"""`physflow enrich`: physics context (DiffPhy reasoning, WISA labels) for prompts and captions."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from physflow.flows.cli_common import catalog_root, console, fail, print_stage_summary, run_flow

API_KEY_ENV = "PHYSFLOW_LLM_API_KEY"


def register(app: typer.Typer) -> None:
    app.command()(enrich)


def enrich(  # noqa: PLR0917 (Typer options are parameters)
    ctx: typer.Context,
    prompts: Annotated[list[str] | None, typer.Argument(help='Prompts, e.g. "a glass falls off a table".')] = None,
    captions: Annotated[list[str] | None, typer.Option(
        "--captions", help="Captions table (.csv/.parquet), sidecar (.txt/.json), or videos/folders with sidecars.")] = None,
    save: Annotated[bool, typer.Option("--save", help="Store the prompts' rows in the catalog (a flow run); "
                                       "captions are always stored.")] = False,
    backend: Annotated[str, typer.Option(help="rules | openai | local (GGUF from weights 'llm').")] = "rules",
    base_url: Annotated[str | None, typer.Option(help="openai: endpoint, e.g. http://127.0.0.1:8000/v1.")] = None,
    model: Annotated[str, typer.Option(help="openai: model name.")] = "",
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the openai API key.")] = API_KEY_ENV,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="openai: requests in flight.")] = 8,
    shard_size: Annotated[int, typer.Option(min=1, help="Average texts per cached shard.")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON lines.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Rows to print.")] = 20,
) -> None:
    """Reason about the physics of prompts or captions and print the context. Prompts alone are answered at
    once and stored nowhere; with --save, or for captions, the work is a flow run cached in the catalog."""
    from pydantic import ValidationError

    from physflow.stages.physics_context import PhysicsContextConfig

    key = os.environ.get(api_key_env) or os.environ.get("OPENAI_API_KEY")
    try:
        config = PhysicsContextConfig(backend=backend, base_url=base_url, model=model, api_key=key,
                                      concurrency=concurrency)
    except ValidationError as exc:
        fail(str(exc))
    if not prompts and not captions:
        fail("give at least one prompt or --captions source")
    if save or captions:
        rows = _enrich_flow(catalog_root(ctx), prompts or [], captions or [], config, shard_size=shard_size,
                            as_json=as_json)
    else:
        rows = _enrich_now(prompts or [], config)
    _print_rows(rows[:limit], as_json)


def _enrich_now(prompts: list[str], config: Any) -> list[dict[str, Any]]:
    """One-shot: the stage runs in this process, without Prefect or the catalog."""
    from physflow.flows.weights import resolve_weights
    from physflow.models.registry import MissingWeightsError, WeightsRegistry
    from physflow.stages.physics_context import PhysicsContextStage, PhysicsItem, ServiceError

    try:
        config = resolve_weights(config, WeightsRegistry.load())
        table = PhysicsContextStage(config).run(list(dict.fromkeys(PhysicsItem(p) for p in prompts)))
    except (ServiceError, MissingWeightsError) as exc:
        fail(str(exc))
    return table.to_pylist()


def _enrich_flow(root: str, prompts: list[str], captions: list[str], config: Any, *, shard_size: int,
                 as_json: bool) -> list[dict[str, Any]]:
    """Batch: a physics-context flow run whose rows are cached and registered in the catalog."""
    from pydantic import ValidationError

    from physflow.data_catalog import Catalog
    from physflow.flows import env
    from physflow.flows.inputs import InputError
    from physflow.flows.physics_context import PhysicsParams, physics_context_flow
    from physflow.models.registry import MissingWeightsError
    from physflow.stages.physics_context import ServiceError
    from physflow.stages.physics_context.captions import CaptionInputError

    env.prefect_home(root).mkdir(parents=True, exist_ok=True)  # a fresh catalog: Prefect needs it
    try:
        params = PhysicsParams(prompts=prompts, captions=captions, catalog=root, shard_size=shard_size, physics=config)
    except ValidationError as exc:
        fail(str(exc))
    refs = run_flow(physics_context_flow, params,
                    (InputError, CaptionInputError, ServiceError, MissingWeightsError)).refs
    if not as_json:
        print_stage_summary(refs)
    store = Catalog(root).artifacts
    return [row for ref in refs for row in store.read(ref.stage, ref.key).to_pylist()]


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
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
