"""The simulated VNPost BCCI postal gateway."""
