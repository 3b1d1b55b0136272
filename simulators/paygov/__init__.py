"""The simulated PayGov payment platform."""
