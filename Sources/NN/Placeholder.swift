// NN: placeholder until its first file lands.
