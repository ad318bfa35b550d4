"""Deployment: the local single-node Apache Kafka broker, and the production shapes."""
