"""The loops: the connector runtime, the projection runner and rebuild, the policy loop, the stall watchdog."""
