# syntax=docker/dockerfile:1.7
# Kafka Connect (the upstream Apache Kafka image) with the official MongoDB connector on its
# plugin path: the jar MongoDB publishes on Maven Central, pinned and checksum-verified. Its JMX
# metrics are served on :9415/metrics by the Prometheus JMX exporter's Java agent (Maven Central,
# pinned and checksum-verified like the local stack's) with the local stack's own rules
# (scripts/stack/jmx/connect.yml; docs/operations.md).
FROM apache/kafka:4.1.1
USER 0
RUN mkdir -p /opt/kafka/plugins/mongo-kafka-connect
ADD --checksum=sha256:26e0027798fb20d93d4f4d8ecbc274c2792c232db815fb99f701057ac6f62b08 \
    https://repo1.maven.org/maven2/org/mongodb/kafka/mongo-kafka-connect/2.0.1/mongo-kafka-connect-2.0.1-all.jar \
    /opt/kafka/plugins/mongo-kafka-connect/
COPY docker/connect-worker.properties /opt/kafka/config/authtrail-connect.properties
ADD --checksum=sha256:7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1 --chmod=644 \
    https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/1.0.1/jmx_prometheus_javaagent-1.0.1.jar \
    /opt/jmx-exporter/
COPY --chmod=644 scripts/stack/jmx/connect.yml /opt/jmx-exporter/connect.yml
RUN chown -R appuser /opt/kafka/plugins
# The upstream image's own unprivileged user; its uid is the image's to choose, not ours.
# hadolint ignore=DL3066
USER appuser

EXPOSE 8083 9415
# The agent goes to the worker's JVM alone, not into the container's environment: a tool run with
# `docker compose exec connect /opt/kafka/bin/…` starts no second agent on the same port.
CMD ["env", \
     "KAFKA_OPTS=-javaagent:/opt/jmx-exporter/jmx_prometheus_javaagent-1.0.1.jar=9415:/opt/jmx-exporter/connect.yml", \
     "/opt/kafka/bin/connect-distributed.sh", "/opt/kafka/config/authtrail-connect.properties"]
