"""Print ``name==version`` for each ``name>=version`` runtime dependency of pyproject.toml
that applies to the running Python: the declared minimums, for a venv pinned to them."""

from __future__ import annotations

import sys
import tomllib

from packaging.requirements import Requirement


def main(pyproject: str) -> int:
    with open(pyproject, "rb") as f:
        deps = tomllib.load(f)["project"]["dependencies"]
    pins = []
    for text in deps:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        lows = [s.version for s in req.specifier if s.operator == ">="]
        if len(lows) != 1:
            print(f"minimum_constraints: {text!r} declares no single '>=' minimum", file=sys.stderr)
            return 1
        pins.append(f"{req.name}=={lows[0]}")
    print("\n".join(pins))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
