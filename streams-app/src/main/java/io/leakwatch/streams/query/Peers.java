package io.leakwatch.streams.query;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyQueryMetadata;
import org.apache.kafka.streams.StreamsMetadata;
import org.apache.kafka.streams.state.HostInfo;

/**
 * The other streams-app instances (Kafka Streams' metadata: each advertises its application.server)
 * and requests forwarded to them, so that any instance answers for any host or process: a process's
 * report comes from the instance that owns its partition; lists and roll-ups merge every instance's
 * share. Forwarded requests carry {@code local=true} and are never forwarded again.
 */
public final class Peers {
  private final KafkaStreams streams;
  private final HostInfo self;
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();

  public Peers(KafkaStreams streams, HostInfo self) {
    this.streams = streams;
    this.self = self;
  }

  /** The instance owning a process key, when it is another one. */
  Optional<HostInfo> remoteOwner(String store, String processKey) {
    KeyQueryMetadata m = streams.queryMetadataForKey(store, processKey, new StringSerializer());
    if (m == null || m.equals(KeyQueryMetadata.NOT_AVAILABLE) || m.activeHost() == null)
      return Optional.empty();
    HostInfo h = m.activeHost();
    return h.equals(self) || h.port() <= 1 ? Optional.empty() : Optional.of(h);
  }

  /** Every other instance running the application. */
  List<HostInfo> others() {
    List<HostInfo> out = new ArrayList<>();
    for (StreamsMetadata m : streams.metadataForAllStreamsClients()) {
      HostInfo h = m.hostInfo();
      if (!h.equals(self) && h.port() > 1 && !out.contains(h)) out.add(h);
    }
    return out;
  }

  /** GET path (with its query) from another instance: status and body. */
  HttpResponse<byte[]> get(HostInfo peer, String pathAndQuery) throws IOException {
    HttpRequest req =
        HttpRequest.newBuilder(
                URI.create("http://" + peer.host() + ":" + peer.port() + pathAndQuery))
            .timeout(Duration.ofSeconds(15))
            .GET()
            .build();
    try {
      return http.send(req, HttpResponse.BodyHandlers.ofByteArray());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }
}
