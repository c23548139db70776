"""Rollout of a challenger: the plan (auto, manual) and live rollouts (shadow, canary)."""
