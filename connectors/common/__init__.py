"""What every connector shares: JSON over HTTP, reading fields of government records, refused callbacks."""
