"""Which data-quality thresholds apply to one source. Most specific first:

1. `CRM_DQ_<SOURCE>_<NAME>` in the environment, for that source only
   (`CRM_DQ_DEALER_CUSTOMERS_MAX_NULL_SHARE=0.6`): a user's override without editing the package;
2. the source declaration's `quality:` block (`sources/declarations/<source>.yml`);
3. `CRM_DQ_<NAME>` in the environment, for every source (read into `Settings.quality`);
4. the default in `crmloop.settings.QualityThresholds`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, replace

from crmloop.settings import QualityThresholds


def source_env_name(source: str, threshold: str) -> str:
    return f"CRM_DQ_{source.upper()}_{threshold.upper()}"


def thresholds_for(
    base: QualityThresholds, decl, environ: Mapping[str, str] | None = None
) -> QualityThresholds:
    """`base` (defaults and global env) with the declaration's `quality:` and then the source's own
    env overrides applied. A value that is not a number is an error naming the variable."""
    environ = os.environ if environ is None else environ
    if decl is None:
        return base
    out = replace(base, **decl.quality) if decl.quality else base
    overrides = {}
    for f in fields(QualityThresholds):
        name = source_env_name(decl.name, f.name)
        raw = environ.get(name)
        if raw in (None, ""):
            continue
        kind = int if isinstance(getattr(base, f.name), int) else float
        try:
            overrides[f.name] = kind(raw)
        except ValueError:
            raise ValueError(
                f"{name}={raw!r}: must be {'an integer' if kind is int else 'a number'}"
            ) from None
    return replace(out, **overrides) if overrides else out
