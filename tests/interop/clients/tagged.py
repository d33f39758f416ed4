"""The tagged-JSON convention the Python client programs print and read: binary values are
`{"__bytes__": "<hex>"}` (clients/payload.json is written that way)."""

import json


def norm(v):
    """Native value -> JSON-printable value with binary tagged."""
    if isinstance(v, (bytes, bytearray)):
        return {"__bytes__": bytes(v).hex()}
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    return v


def denorm(v):
    """Tagged JSON value (payload.json) -> native value (bytes for binary)."""
    if isinstance(v, dict):
        if set(v.keys()) == {"__bytes__"}:
            return bytes.fromhex(v["__bytes__"])
        return {k: denorm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [denorm(x) for x in v]
    return v


def load_payload(path):
    """(args, kwargs) of a tagged payload file."""
    with open(path, encoding="utf-8") as f:
        p = json.load(f)
    return denorm(p.get("args", [])), denorm(p.get("kwargs", {}))
