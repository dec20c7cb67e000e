// Autograd: placeholder until its first file lands.
