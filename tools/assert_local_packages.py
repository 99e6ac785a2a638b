"""Fail if any rmq-* distribution in this environment came from an index.

Every rmq package must be installed editable from this checkout; the public
index has an unrelated ``rmq-client`` that a missing ``-e`` line would pull in.
"""

from __future__ import annotations

import json
import subprocess
import sys


def main() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--exclude-editable", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    strays = [d["name"] for d in json.loads(out) if d["name"].lower().startswith("rmq")]
    if strays:
        print(
            f"non-editable rmq distributions installed: {', '.join(strays)}; "
            "install the local package by path (-e packages/<name>) in tox.ini",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
