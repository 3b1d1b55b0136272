"""The simulated provincial one-stop system: SOAP server, its contract and its world."""
