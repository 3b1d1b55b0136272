"""The national status mirror: the policy, what it sends, its work list, and divergence detection."""
