"""ttfs-lab widgets."""
