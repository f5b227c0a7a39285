# syntax=docker/dockerfile:1.7
# Kafka Connect (the upstream Apache Kafka image) with the official MongoDB connector on its
# plugin path: the jar MongoDB publishes on Maven Central, pinned and checksum-verified.
FROM apache/kafka:4.1.1
USER 0
RUN mkdir -p /opt/kafka/plugins/mongo-kafka-connect
ADD --checksum=sha256:26e0027798fb20d93d4f4d8ecbc274c2792c232db815fb99f701057ac6f62b08 \
    https://repo1.maven.org/maven2/org/mongodb/kafka/mongo-kafka-connect/2.0.1/mongo-kafka-connect-2.0.1-all.jar \
    /opt/kafka/plugins/mongo-kafka-connect/
COPY docker/connect-worker.properties /opt/kafka/config/authtrail-connect.properties
RUN chown -R appuser /opt/kafka/plugins
# The upstream image's own unprivileged user; its uid is the image's to choose, not ours.
# hadolint ignore=DL3066
USER appuser

EXPOSE 8083
CMD ["/opt/kafka/bin/connect-distributed.sh", "/opt/kafka/config/authtrail-connect.properties"]
