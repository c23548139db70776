"""Live rollouts (shadow and canary): which requests the candidate scores, tallies, verdict."""
