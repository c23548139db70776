"""Wire-protocol codecs: KServe V2 / Open Inference Protocol, MLflow scoring."""
