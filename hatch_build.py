"""Wheel build hook: bundle workshop.serve's terminal, xterm.js, into the wheel.

`npm ci` (scripts/setup runs it) installs the versions package-lock.json pins into
node_modules/, which is never committed. An editable install reads them from there;
a wheel carries a copy, and refuses to build without one rather than ship a server
whose terminal cannot load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

XTERM_FILES = {
    "node_modules/@xterm/xterm/lib/xterm.js": "mobylab/_data/xterm/xterm.js",
    "node_modules/@xterm/xterm/css/xterm.css": "mobylab/_data/xterm/xterm.css",
    "node_modules/@xterm/addon-fit/lib/addon-fit.js": "mobylab/_data/xterm/addon-fit.js",
}


class XtermHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        root = Path(self.root)
        missing = [name for name in XTERM_FILES if not (root / name).is_file()]
        if missing:
            raise RuntimeError(
                f"xterm.js is not installed ({missing[0]} is missing): run `npm ci` in "
                f"{root} (scripts/setup does), then build again"
            )
        for name, target in XTERM_FILES.items():
            build_data["force_include"][str(root / name)] = target
