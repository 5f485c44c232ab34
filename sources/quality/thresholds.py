"""Which data-quality thresholds apply to one source. Most specific first:

1. `CRM_DQ_<SOURCE>_<NAME>` in the environment, for that source only
   (`CRM_DQ_DEALER_CUSTOMERS_MAX_NULL_SHARE=0.6`): a user's override without editing the package;
2. the source declaration's `quality:` block (`sources/declarations/<source>.yml`);
3. `CRM_DQ_<NAME>` in the environment, for every source (read into `Settings.quality`);
4. the default in `crmloop.settings.QualityThresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from crmloop.settings import QualityThresholds


def source_env_name(source: str, threshold: str) -> str:
    return f"CRM_DQ_{source.upper()}_{threshold.upper()}"


def thresholds_for(
    base: QualityThresholds, decl, environ: Mapping[str, str] | None = None
) -> QualityThresholds:
    """`base` (defaults and global env) with the declaration's `quality:` and then the source's own
    env overrides applied. A value that is not a number is a SettingsError naming the variable."""
    if decl is None:
        return base
    out = replace(base, **decl.quality) if decl.quality else base
    overrides = QualityThresholds.env_overrides(source_env_name(decl.name, ""), environ)
    return replace(out, **overrides) if overrides else out
