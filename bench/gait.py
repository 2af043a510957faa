"""`rig bench gait [--json]`: gait events on the shared real recordings, scored against truth.

Runs every recording through `rig replay`'s pipeline and scores heel strikes and toe offs per
recording and pooled (bench/score_events.py), next to the simple causal COP baseline.
"""
from __future__ import annotations

from bench import score_events


def main(args) -> int:
    return score_events.main(["--json"] if getattr(args, "json", False) else [])
