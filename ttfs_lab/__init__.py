"""ttfs-lab core."""
