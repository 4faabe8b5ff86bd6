"""The ``hyperspark`` command's entry point (``python -m hyperspark.ops`` works too).

A core install (``pip install hyperspark``) has ``hyperspark.tune`` but not the command's dependencies;
the command then says in one line what to install instead of a traceback.
"""
from __future__ import annotations

import sys

#: top-level modules the ``[ops]`` extra brings (pyproject.toml); a missing one means the extra is missing
OPS_MODULES = frozenset({"click", "rich", "hdfs", "requests", "matplotlib", "pydantic_settings", "psutil",
                         "tenacity"})


def main() -> None:
    try:
        from hyperspark.ops.cli import main as cli_main
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in OPS_MODULES:
            raise  # not a missing extra: a real bug, keep its traceback
        print(f"hyperspark: error: the hyperspark command needs the ops extra (missing module {e.name!r}): "
              "pip install 'hyperspark[ops]'", file=sys.stderr)
        raise SystemExit(1) from None
    cli_main()


if __name__ == "__main__":
    main()
