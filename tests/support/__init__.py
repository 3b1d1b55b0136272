"""What tests share: fakes of the hub's ports, hypothesis strategies, subprocess helpers."""
