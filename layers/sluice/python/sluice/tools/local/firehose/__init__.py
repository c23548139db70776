"""Amazon Data Firehose on the local stack: delivery buffers, streams from the template."""
