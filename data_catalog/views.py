"""Views that join several stages' tables: `clips` = measures + duplicate links + decisions + exported files.

Each curation stage writes only what it adds, in its own table keyed by clip_id (schemas.CURATION_COLUMNS);
this view joins them, so no stage re-emits another's columns and no registry order decides which row wins.
A clip whose export failed reads keep = false with the export's error. Rows registered straight into the
`clips` table (catalogs written before the split, test fixtures) show for the clip_ids no stage measured.
"""

from __future__ import annotations

import duckdb

from physflow.data_catalog.schemas import (
    CLIP_DECISIONS,
    CLIP_DUPLICATES,
    CLIP_FILES,
    CLIP_ID,
    CLIP_MEASURES,
    CLIPS,
    CURATION_COLUMNS,
    ERROR,
    TABLES,
)

DIRECT_CLIPS = "clips_registered"
"""The view over artifacts registered straight into `clips` (what `clips` itself was before the split)."""

_ALIASES = {CLIP_MEASURES: "m", CLIP_DUPLICATES: "u", CLIP_DECISIONS: "d", CLIP_FILES: "f"}


def view_name(table: str) -> str:
    """The name of the view over `table`'s own artifacts."""
    return DIRECT_CLIPS if table == CLIPS else table


def _column(name: str) -> str:
    if name == ERROR:  # the first stage that failed names the error
        return "coalesce(" + ", ".join(f"{a}.{ERROR}" for a in _ALIASES.values()) + f') AS "{ERROR}"'
    if name == "keep":
        return f'CASE WHEN f.{ERROR} IS NOT NULL THEN false ELSE d.keep END AS "keep"'
    table = next(t for t, cols in CURATION_COLUMNS.items() if name in cols)
    return f'{_ALIASES[table]}."{name}"'


def clips_sql() -> str:
    """SELECT of the joined `clips` rows, in the `clips` schema's column order."""
    cols = ", ".join(_column(n) for n in TABLES[CLIPS].schema.names)
    joins = " ".join(f'LEFT JOIN "{t}" {a} USING ({CLIP_ID})' for t, a in _ALIASES.items() if a != "m")
    return f'SELECT {cols} FROM "{CLIP_MEASURES}" m {joins}'


def create_joined_views(con: duckdb.DuckDBPyConnection, temp: bool = False) -> None:
    """(Re)create `clips` over the stage tables' views (resolved by name at query time, so it stays valid when
    they are refreshed); `temp`: as a temporary view of a read-only connection, over its temporary views."""
    con.execute(joined_views_sql(temp))


def joined_views_sql(temp: bool = False) -> str:
    """The statement `create_joined_views` runs."""
    return f"""CREATE OR REPLACE {"TEMP " if temp else ""}VIEW "{CLIPS}" AS
            {clips_sql()}
            UNION ALL BY NAME
            SELECT * FROM "{DIRECT_CLIPS}" r
            WHERE NOT EXISTS (SELECT 1 FROM "{CLIP_MEASURES}" x WHERE x.{CLIP_ID} = r.{CLIP_ID})"""
