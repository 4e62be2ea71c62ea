"""Executes a notebook headless, in its own folder, and fails on any cell's error (CI runs the
tutorial this way). Needs nbclient, nbformat and ipykernel in the Python that runs it.

    python notebooks/execute.py notebooks/tutorial.ipynb [--out executed.ipynb]
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    nb = nbformat.read(args.notebook, as_version=4)
    # The kernel is this Python's own (ipykernel installed beside nbclient).
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(args.notebook.parent)}})
    started = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"{args.notebook}: a cell failed:\n{e}", file=sys.stderr)
        return 1
    finally:
        if args.out:
            nbformat.write(nb, args.out)
    print(f"{args.notebook}: {len(nb.cells)} cells executed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
