# syntax=docker/dockerfile:1.7
# The Kafka broker (the upstream Apache Kafka image, KRaft) with the Prometheus JMX exporter's Java
# agent: the jar published on Maven Central, pinned and checksum-verified (the pin of
# scripts/stack/versions.py), and the broker's rules, the local stack's own
# (scripts/stack/jmx/kafka.yml). Metrics on :9414/metrics (docs/operations.md).
FROM apache/kafka:4.1.1
ADD --checksum=sha256:7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1 --chmod=644 \
    https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/1.0.1/jmx_prometheus_javaagent-1.0.1.jar \
    /opt/jmx-exporter/
COPY --chmod=644 scripts/stack/jmx/kafka.yml /opt/jmx-exporter/kafka.yml

EXPOSE 9092 9414
# The image's run script exports the VAR=value arguments it is given: the agent goes to the JVMs
# it starts (the storage format, then the broker) and not into the container's environment, so a
# tool run with `docker compose exec kafka /opt/kafka/bin/…` starts no second agent (that one
# would find the port taken and stop the tool).
CMD ["/etc/kafka/docker/run", \
     "KAFKA_OPTS=-javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent-1.0.1.jar=9414:/opt/jmx-exporter/kafka.yml"]
