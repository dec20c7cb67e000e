// Checkpoint: placeholder until its first file lands.
