"""Monitoring streams for provincial IT: SLA conditions per dossier, connector health, security refusals."""
