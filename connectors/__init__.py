"""One package per external system (one-stop, DVCQG, PayGov, VNPost): client, mapping, simulator."""
