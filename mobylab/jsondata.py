"""Names for JSON at the edges: what a record's `to_dict` writes and `from_dict` reads.

Inside mobylab data travels as typed records; a plain mapping appears only where
JSON is written or read (report.json, manifests, state files, the engine API).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A JSON object as read (json.loads, the engine API); records turn it into types at once.
JsonObject = Mapping[str, Any]
# A JSON object as written (`to_dict`, json.dumps).
JsonDict = dict[str, Any]
