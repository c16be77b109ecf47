"""Fails when a notebook is committed with outputs or execution counts (they are run by ctest, not stored)."""
import json
import pathlib
import sys

bad = []
notebooks = sorted(pathlib.Path(__file__).parent.glob("*.ipynb"))
for path in notebooks:
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            bad.append(f"{path.name}: cell {i} has outputs or an execution count (clear them before committing)")
print("\n".join(bad) if bad else f"{len(notebooks)} notebooks, no stored outputs")
sys.exit(1 if bad or not notebooks else 0)
