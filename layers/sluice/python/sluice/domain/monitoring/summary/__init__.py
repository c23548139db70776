"""Mergeable summaries of captured traffic: a window split into partitions, each summarized on its own
(`tally`), the summaries merged (`window`) into what one pass over every object would have read."""
