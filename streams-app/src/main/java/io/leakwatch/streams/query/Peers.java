package io.leakwatch.streams.query;

import io.leakwatch.web.PeerAccess;
import io.leakwatch.web.WebConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
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
  private final Supplier<WebConfig> webConfig;

  /** The client for the configuration it was made for (a reload makes a new one). */
  private record Client(WebConfig config, PeerAccess access, HttpClient http) {}

  private volatile Client client;

  /**
   * @param webConfig the web configuration in force: peers are called over HTTPS when it serves
   *     TLS, with the credentials of its {@code leakwatch_peer}
   */
  public Peers(KafkaStreams streams, HostInfo self, Supplier<WebConfig> webConfig) {
    this.streams = streams;
    this.self = self;
    this.webConfig = webConfig;
  }

  private Client client() {
    WebConfig config = webConfig.get();
    Client c = client;
    if (c == null || c.config() != config) {
      PeerAccess access = PeerAccess.of(config);
      HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3));
      if (access.ssl() != null) b.sslContext(access.ssl());
      c = new Client(config, access, b.build());
      client = c;
    }
    return c;
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
    Client c = client();
    HttpRequest.Builder req =
        HttpRequest.newBuilder(
                URI.create(
                    c.access().scheme() + "://" + peer.host() + ":" + peer.port() + pathAndQuery))
            .timeout(Duration.ofSeconds(15))
            .GET();
    if (c.access().authorization() != null) req.header("Authorization", c.access().authorization());
    try {
      return c.http().send(req.build(), HttpResponse.BodyHandlers.ofByteArray());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }
}
