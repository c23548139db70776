"""Pages and words for people: the chart kit, the model card, the dashboard page, the rollout report."""
