"""The event catalogue (Avro schema files) and its codec. Pure: no Kafka, no I/O beyond reading its own files."""
