"""What a hub process needs around its work: GC and malloc tuning, log set-up, the supervisor, parent
death, the business clock.
"""
