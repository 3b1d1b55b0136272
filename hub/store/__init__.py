"""The SQL read store: engines, the hub's own tables and migrations, projection bookkeeping, connector
state, the replay guard.
"""
