// PipelineSpec: placeholder until its first file lands.
