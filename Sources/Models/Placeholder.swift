// Models: placeholder until its first file lands.
