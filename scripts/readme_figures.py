#!/usr/bin/env python
"""Copy each chapter's README picture out of its executed notebook.

    python scripts/readme_figures.py            # writes docs/images/NN.png

The picture of a chapter is the first PNG output of the notebook cell tagged
``readme-figure``, so the README shows exactly what the committed notebook computed.
"""
import base64
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def main():
    out = ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "readme-figure" in c.get("metadata", {}).get("tags", [])]
        if not tagged:
            print(f"{path.name}: no cell tagged readme-figure", file=sys.stderr)
            continue
        pngs = [o["data"]["image/png"] for o in tagged[0].get("outputs", [])
                if "data" in o and "image/png" in o["data"]]
        if not pngs:
            sys.exit(f"{path.name}: the readme-figure cell has no PNG output; execute the notebook first")
        target = out / f"{path.name[:2]}.png"
        target.write_bytes(base64.b64decode(pngs[0]))
        print(f"{target.relative_to(ROOT)}  <-  {path.name}")


if __name__ == "__main__":
    main()
