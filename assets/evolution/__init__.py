"""The evolution domain's Dagster definitions (filled in below)."""

import dagster as dg

defs = dg.Definitions()
