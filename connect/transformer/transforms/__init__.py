"""Kafka Connect's single message transforms, re-implemented with the same semantics and the
same configuration keys (schemaless records), and the chain that runs them."""
