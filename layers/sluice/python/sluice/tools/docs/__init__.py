"""The documentation site's generated pages: `python -m sluice.tools.docs.reference` writes them, `--check`
names the stale ones (see sluice.tools.docs.reference)."""
