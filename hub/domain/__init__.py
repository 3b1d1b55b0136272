"""The domain: events, identities, dossier codes, local time, the dossier fold, SLA rules, divergences.
Standard library only.
"""
