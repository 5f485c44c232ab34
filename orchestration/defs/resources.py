"""Resources: the settings object, read once at run time from the environment."""

from __future__ import annotations

import dagster as dg

from crmloop.settings import Settings


class CrmSettings(dg.ConfigurableResource):
    """Hands every asset the one Settings object (env vars CRM_*), read when the run starts."""

    def get(self) -> Settings:
        return Settings.from_env()
