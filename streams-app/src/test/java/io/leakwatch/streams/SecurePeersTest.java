package io.leakwatch.streams;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.kafka.KafkaFixture;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.Topics;
import java.io.FileInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.security.crypto.bcrypt.BCrypt;

/**
 * Two streams-app instances behind TLS and basic auth: any instance answers for every process, the
 * ones another instance owns through forwarding that speaks TLS and authenticates as the peer user;
 * a scrape-only user gets /metrics and nothing else.
 */
class SecurePeersTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir Path dir;

  private static String basic(String user, String password) {
    return "Basic "
        + Base64.getEncoder()
            .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  private HttpClient trusting(Path cert) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    try (FileInputStream in = new FileInputStream(cert.toFile())) {
      ks.setCertificateEntry(
          "server", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    SSLContext ssl = SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    return HttpClient.newBuilder().sslContext(ssl).connectTimeout(Duration.ofSeconds(5)).build();
  }

  @Test
  void peersForwardOverTlsWithCredentialsAndRolesHold() throws Exception {
    // A self-signed certificate for 127.0.0.1, made by openssl as an operator would.
    Process p =
        new ProcessBuilder(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                dir.resolve("server.key").toString(),
                "-out",
                dir.resolve("server.crt").toString(),
                "-days",
                "2",
                "-subj",
                "/CN=leakwatch-test",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost")
            .redirectErrorStream(true)
            .start();
    String opensslOut = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(opensslOut).isZero();
    Files.writeString(dir.resolve("peer.password"), "peer-secret\n");
    Path web = dir.resolve("web.yml");
    Files.writeString(
        web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            + "basic_auth_users:\n"
            + "  alice: "
            + BCrypt.hashpw("alice-pw", BCrypt.gensalt(4))
            + "\n"
            + "  peer: "
            + BCrypt.hashpw("peer-secret", BCrypt.gensalt(4))
            + "\n"
            + "  prometheus: "
            + BCrypt.hashpw("prom-pw", BCrypt.gensalt(4))
            + "\n"
            + "leakwatch_roles:\n  metrics: [prometheus]\n"
            + "leakwatch_peer:\n  username: peer\n  password_file: peer.password\n  ca_file: server.crt\n");
    try (KafkaFixture kafka = KafkaFixture.start()) {
      StreamsAppConfig base =
          StreamsAppConfig.defaults(kafka.bootstrapServers(), dir.resolve("a"))
              .withHttpPort(0)
              .withWebConfig(web);
      try (StreamsApp a = new StreamsApp(base).start(Duration.ofMinutes(2));
          StreamsApp b =
              new StreamsApp(base.withStateDir(dir.resolve("b"))).start(Duration.ofMinutes(2));
          KafkaProducer<String, byte[]> producer =
              new KafkaProducer<>(
                  Map.of("bootstrap.servers", kafka.bootstrapServers(), "acks", "all"),
                  new StringSerializer(),
                  new ByteArraySerializer())) {
        int processes = 8;
        for (int pid = 1; pid <= processes; pid++) {
          send(
              producer,
              pid,
              ProcessStarted.newBuilder()
                  .setName("svc")
                  .setCommand("svc")
                  .setPpid(1)
                  .setStartedAtMs(System.currentTimeMillis())
                  .setSampleBytes(0)
                  .build());
          send(
              producer,
              pid,
              EventBatch.newBuilder()
                  .setFirstSeq(0)
                  .setEndSeq(64)
                  .setLostEvents(0)
                  .setEvents(
                      List.of(
                          AllocationEvent.newBuilder()
                              .setSeq(0)
                              .setType(EventType.ALLOC)
                              .setKind(AllocationKind.HEAP)
                              .setAddress(0x1000)
                              .setSize(100L * pid)
                              .setWeight(100.0 * pid)
                              .setTimestampNs(System.nanoTime())
                              .setStackId(7)
                              .build()))
                  .build());
        }
        HttpClient http = trusting(dir.resolve("server.crt"));
        String alice = basic("alice", "alice-pw");
        // Every process, from instance A alone: those instance B owns come through forwarding.
        JsonNode all = null;
        long deadline = System.currentTimeMillis() + 120_000;
        while (System.currentTimeMillis() < deadline) {
          HttpResponse<String> r = get(http, a.httpPort(), "/api/processes", alice);
          if (r.statusCode() == 200) {
            all = JSON.readTree(r.body());
            if (all.size() == processes) break;
          }
          Thread.sleep(500);
        }
        assertThat(all).as("processes merged over TLS from both instances").hasSize(processes);
        int forwardedOwners = 0;
        for (int pid = 1; pid <= processes; pid++) {
          HttpResponse<String> local =
              get(http, a.httpPort(), "/api/report?host=h&pid=" + pid + "&local=true", alice);
          if (local.statusCode() == 404) forwardedOwners++;
          HttpResponse<String> r = get(http, a.httpPort(), "/api/report?host=h&pid=" + pid, alice);
          assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
          assertThat(JSON.readTree(r.body()).path("outstanding").path("bytes").asLong())
              .isEqualTo(100L * pid);
        }
        System.out.println(
            "secure peers: "
                + processes
                + " reports read through instance A over TLS with basic auth, "
                + forwardedOwners
                + " of them owned by instance B (forwarded as the peer user)");
        assertThat(forwardedOwners).as("some processes live on B").isPositive();
        // Roles: the scraper reads metrics only; nobody reads without credentials.
        assertThat(get(http, b.httpPort(), "/metrics", basic("prometheus", "prom-pw")).statusCode())
            .isEqualTo(200);
        assertThat(
                get(http, b.httpPort(), "/api/processes", basic("prometheus", "prom-pw"))
                    .statusCode())
            .isEqualTo(403);
        assertThat(get(http, b.httpPort(), "/api/processes", null).statusCode()).isEqualTo(401);
        assertThat(get(http, b.httpPort(), "/readyz", null).statusCode()).isEqualTo(200);
      }
    }
  }

  private static void send(KafkaProducer<String, byte[]> producer, int pid, Object body)
      throws Exception {
    ProcessMessage m =
        ProcessMessage.newBuilder()
            .setHost("h")
            .setPid(pid)
            .setProcessStartTicks(5)
            .setBody(body)
            .build();
    producer
        .send(
            new ProducerRecord<>(
                Topics.EVENTS,
                Topics.processKey("h", pid),
                AvroSerde.of(ProcessMessage.class).serialize(Topics.EVENTS, m)))
        .get();
  }

  private static HttpResponse<String> get(HttpClient http, int port, String path, String auth)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(20));
    if (auth != null) b.header("Authorization", auth);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }
}
