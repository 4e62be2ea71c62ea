"""``set=`` arguments into the (path, value) pairs ``--set`` takes.

A dict maps paths to values; a value that is a string is YAML text as on the command line
(``"5 s"``, ``"[1, 2]"``), anything else is written as YAML (numbers, booleans, lists). A list
of ``"path=value"`` strings is taken as the CLI takes them.
"""

import yaml


def _yaml_value(value):
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return yaml.safe_dump(value, default_flow_style=True).strip()


def pairs(set_=None):
    """The overrides as a list of (path, value) strings, in order."""
    if set_ is None:
        return []
    if isinstance(set_, dict):
        return [(str(k), _yaml_value(v)) for k, v in set_.items()]
    out = []
    for item in set_:
        if isinstance(item, str):
            if "=" not in item:
                raise ValueError(f"set needs path=value, got {item!r}")
            key, value = item.split("=", 1)
            out.append((key.strip(), value.strip()))
        else:
            key, value = item
            out.append((str(key), _yaml_value(value)))
    return out
