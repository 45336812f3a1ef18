"""Package layout: the repository's four source folders install as subpackages of ``physflow``.

Everything else (name, dependencies, scripts) is in pyproject.toml; this file only computes the package list,
which follows the folders, and maps each ``physflow.<folder>`` to its folder at the repository root.
"""

from setuptools import find_packages, setup

SOURCE_FOLDERS = ("flows", "stages", "models", "data_catalog")


def _packages() -> list[str]:
    names = ["physflow"]
    for folder in SOURCE_FOLDERS:
        names.append(f"physflow.{folder}")
        names += [f"physflow.{folder}.{sub}" for sub in find_packages(folder)]
    return names


setup(
    packages=_packages(),
    package_dir={"physflow": "physflow", **{f"physflow.{folder}": folder for folder in SOURCE_FOLDERS}},
)
