"""physflow: physics-annotated video data, physics-aware video generator training and generation.

The installed package holds four subpackages, each kept in its own folder at the repository root:
``physflow.flows`` (flows/), ``physflow.stages`` (stages/), ``physflow.models`` (models/) and
``physflow.data_catalog`` (data_catalog/). Nothing is installed under a bare top-level name.
"""

__version__ = "0.1.0"
