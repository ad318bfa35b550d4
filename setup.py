"""Maps the top-level folders onto subpackages of one import name, ``schakel``.

The folders are the architecture (``schemas/``, ``consent/``, ``streams/``, ...); installed, they are
``schakel.schemas``, ``schakel.consent``, ``schakel.streams``, so nothing collides with other distributions that
ship a top-level ``streams`` or ``consent``. ``core/`` is the package root itself (``schakel``: the command
line, the settings and the root exception); it is not called ``schakel/`` so that a checkout's own folder never
shadows the installed package when the checkout is the working directory. Everything else about the package
is in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

FOLDERS = ("schemas", "consent", "guidance", "retention", "streams", "connectors", "lineage", "deploy", "console")

setup(
    package_dir={"schakel": "core", **{f"schakel.{folder}": folder for folder in FOLDERS}},
    packages=[
        "schakel",
        *(f"schakel.{folder}" for folder in FOLDERS),
        *(f"schakel.{folder}.{sub}" for folder in FOLDERS for sub in find_packages(folder)),
    ],
)
