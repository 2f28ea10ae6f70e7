"""The model: the validated scenario, usage curves, fleet plans, the agent and its counts."""
