"""Hardware drivers and their device emulators. Knows hardware and nothing else."""
