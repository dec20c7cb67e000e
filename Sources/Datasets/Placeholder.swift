// Datasets: placeholder until its first file lands.
