"""Durations as the Python calls take them: a number of seconds (``5``, ``0.25``), a
``datetime.timedelta``, or text with a unit as circuit files write it (``"5 s"``, ``"200 ms"``),
into the text the library reads."""

import datetime
import math
import numbers


def duration_text(value, what="duration"):
    """``value`` as time text (None stays None); a number is seconds."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number of seconds or text with a unit such as "
                        f"\"5 s\", not {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be finite, not {value!r}")
    # repr keeps every digit (0.1 stays 0.1); integers print without a decimal point.
    number = str(int(seconds)) if seconds.is_integer() and abs(seconds) < 1e15 else repr(seconds)
    return f"{number} s"
