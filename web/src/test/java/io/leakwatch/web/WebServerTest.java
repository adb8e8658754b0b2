package io.leakwatch.web;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSession;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.security.crypto.bcrypt.BCrypt;

/**
 * The web configuration on a real server, with real clients: the JDK's HTTP client, curl and a
 * Prometheus scraping over TLS with basic auth.
 */
class WebServerTest {
  @TempDir Path dir;
  private TestCa ca;
  private WebServer server;
  private final String alicePw = "correct horse", promPw = "scrape-only";

  @BeforeEach
  void setUp() throws Exception {
    ca = new TestCa("leakwatch test CA");
    ca.caFile(dir.resolve("ca.crt"));
    ca.server(dir.resolve("server.crt"), dir.resolve("server.key"));
  }

  @AfterEach
  void tearDown() {
    if (server != null) server.close();
  }

  private Path writeConfig(String extra) throws IOException {
    Path f = dir.resolve("web.yml");
    Files.writeString(
        f,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            + extra
            + "basic_auth_users:\n  alice: "
            + BCrypt.hashpw(alicePw, BCrypt.gensalt(10))
            + "\n  prometheus: "
            + BCrypt.hashpw(promPw, BCrypt.gensalt(10))
            + "\nleakwatch_roles:\n  metrics: [prometheus]\n");
    return f;
  }

  private WebServer start(Path config) {
    server =
        WebServer.create(new WebServer.Options("127.0.0.1", 0, config, 4, "test"))
            .route("/metrics", ex -> ok(ex, "metric_a 1\n"))
            .route("/", ex -> ok(ex, "report of " + ex.getRequestURI().getPath() + "\n"))
            .start();
    return server;
  }

  private static void ok(com.sun.net.httpserver.HttpExchange ex, String body) throws IOException {
    try (ex) {
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, b.length);
      ex.getResponseBody().write(b);
    }
  }

  private HttpClient client(Path clientCert, Path clientKey) throws Exception {
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ca", ca.ca);
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext ssl = SSLContext.getInstance("TLS");
    KeyManagerFactory kmf = null;
    if (clientCert != null) {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      ks.setKeyEntry(
          "client",
          PemFiles.privateKey(clientKey),
          new char[0],
          PemFiles.certificates(clientCert).toArray(new X509Certificate[0]));
      kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(ks, new char[0]);
    }
    ssl.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    return HttpClient.newBuilder().sslContext(ssl).connectTimeout(Duration.ofSeconds(5)).build();
  }

  private int status(HttpClient http, String path, String user, String password) throws Exception {
    return get(http, path, user, password).statusCode();
  }

  private HttpResponse<String> get(HttpClient http, String path, String user, String password)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.port() + path))
            .timeout(Duration.ofSeconds(10));
    if (user != null) {
      b.header(
          "Authorization",
          "Basic "
              + Base64.getEncoder()
                  .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** endpoint x (no credentials, wrong password, scrape role, read role): the status codes. */
  @Test
  void theAuthMatrix() throws Exception {
    start(writeConfig(""));
    assertThat(server.tls()).isTrue();
    HttpClient http = client(null, null);
    Map<String, List<Integer>> matrix = new LinkedHashMap<>();
    for (String path : List.of("/metrics", "/api/report", "/process", "/", "/healthz", "/readyz")) {
      matrix.put(
          path,
          List.of(
              status(http, path, null, null),
              status(http, path, "alice", "wrong"),
              status(http, path, "prometheus", promPw),
              status(http, path, "alice", alicePw)));
    }
    System.out.println("auth matrix (none, wrong, scrape role, read role): " + matrix);
    assertThat(matrix)
        .containsEntry("/metrics", List.of(401, 401, 200, 200))
        .containsEntry("/api/report", List.of(401, 401, 403, 200))
        .containsEntry("/process", List.of(401, 401, 403, 200))
        .containsEntry("/", List.of(401, 401, 403, 200))
        .containsEntry("/healthz", List.of(200, 200, 200, 200))
        .containsEntry("/readyz", List.of(200, 200, 200, 200));
    assertThat(get(http, "/metrics", null, null).headers().firstValue("WWW-Authenticate"))
        .get()
        .asString()
        .startsWith("Basic");
    assertThat(status(http, "/metrics", "nobody", "x")).isEqualTo(401);
    // Plain HTTP to the TLS port gets no answer that leaks anything.
    assertThatThrownBy(
            () ->
                HttpClient.newHttpClient()
                    .send(
                        HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                            .timeout(Duration.ofSeconds(5))
                            .build(),
                        HttpResponse.BodyHandlers.ofString()))
        .isInstanceOf(IOException.class);
  }

  @Test
  void aChangedFileIsReloadedAndABrokenOneIgnored() throws Exception {
    Path config = writeConfig("");
    start(config);
    HttpClient http = client(null, null);
    X509Certificate before =
        get(http, "/metrics", "alice", alicePw)
            .sslSession()
            .map(WebServerTest::peerCert)
            .orElseThrow();
    // A new user, and a new certificate: both in force within seconds, without a restart.
    String bobHash = BCrypt.hashpw("bobs", BCrypt.gensalt(10));
    String text =
        Files.readString(config)
            .replace("basic_auth_users:\n", "basic_auth_users:\n  bob: " + bobHash + "\n");
    ca.server(dir.resolve("server.crt"), dir.resolve("server.key"));
    Files.writeString(config, text);
    bumpTimes(config, dir.resolve("server.crt"), dir.resolve("server.key"));
    long deadline = System.currentTimeMillis() + 10_000;
    while (status(http, "/api/report", "bob", "bobs") != 200
        && System.currentTimeMillis() < deadline) Thread.sleep(200);
    assertThat(status(http, "/api/report", "bob", "bobs")).isEqualTo(200);
    HttpClient fresh = client(null, null); // a new connection sees the new certificate
    X509Certificate after =
        get(fresh, "/metrics", "alice", alicePw)
            .sslSession()
            .map(WebServerTest::peerCert)
            .orElseThrow();
    assertThat(after.getSerialNumber()).isNotEqualTo(before.getSerialNumber());
    // A file without users (half written): authentication is never turned off by a reload.
    Files.writeString(config, text.substring(0, text.indexOf("basic_auth_users:")));
    bumpTimes(config);
    Thread.sleep(4_500);
    assertThat(status(http, "/api/report", null, null)).isEqualTo(401);
    // A broken file: logged, and the configuration in force stays.
    Files.writeString(config, "basic_auth_users:\n  alice: not-a-hash\n");
    bumpTimes(config);
    Thread.sleep(4_500);
    assertThat(status(http, "/api/report", "alice", alicePw)).isEqualTo(200);
    assertThat(status(http, "/api/report", "bob", "bobs")).isEqualTo(200);
  }

  private static X509Certificate peerCert(SSLSession s) {
    try {
      return (X509Certificate) s.getPeerCertificates()[0];
    } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void bumpTimes(Path... files) throws IOException {
    FileTime t = FileTime.fromMillis(System.currentTimeMillis() + 5_000);
    for (Path f : files) Files.setLastModifiedTime(f, t);
  }

  @Test
  void clientCertificatesWhenTheConfigurationAsksForThem() throws Exception {
    start(
        writeConfig("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"));
    ca.client("prometheus", dir.resolve("client.crt"), dir.resolve("client.key"));
    assertThat(
            status(
                client(dir.resolve("client.crt"), dir.resolve("client.key")),
                "/metrics",
                "prometheus",
                promPw))
        .isEqualTo(200);
    assertThatThrownBy(() -> status(client(null, null), "/metrics", "prometheus", promPw))
        .isInstanceOf(IOException.class);
    TestCa other = new TestCa("someone else's CA");
    other.client("mallory", dir.resolve("m.crt"), dir.resolve("m.key"));
    assertThatThrownBy(
            () ->
                status(
                    client(dir.resolve("m.crt"), dir.resolve("m.key")),
                    "/metrics",
                    "prometheus",
                    promPw))
        .isInstanceOf(IOException.class);
  }

  @Test
  void curlIsRefusedWithoutCredentialsAndServedWithThem() throws Exception {
    start(writeConfig(""));
    String url = "https://127.0.0.1:" + server.port() + "/metrics";
    assertThat(curl("--cacert", dir.resolve("ca.crt").toString(), url)).isEqualTo("401");
    assertThat(
            curl("--cacert", dir.resolve("ca.crt").toString(), "-u", "prometheus:" + promPw, url))
        .isEqualTo("200");
    assertThat(
            curl(
                "--cacert",
                dir.resolve("ca.crt").toString(),
                "-u",
                "prometheus:" + promPw,
                url.replace("/metrics", "/api/report")))
        .isEqualTo("403");
  }

  private static String curl(String... args) throws Exception {
    List<String> cmd =
        new ArrayList<>(
            List.of("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
    return out;
  }

  /** A real Prometheus, its scrape config with tls_config and basic_auth: up == 1. */
  @Test
  void prometheusScrapesOverTlsWithBasicAuth() throws Exception {
    start(writeConfig(""));
    Files.writeString(dir.resolve("prom.password"), promPw);
    Path yml = dir.resolve("prometheus.yml");
    Files.writeString(
        yml,
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: leakwatch\n    scheme: https\n"
            + "    tls_config:\n      ca_file: "
            + dir.resolve("ca.crt")
            + "\n"
            + "    basic_auth:\n      username: prometheus\n      password_file: "
            + dir.resolve("prom.password")
            + "\n"
            + "    static_configs:\n      - targets: ['127.0.0.1:"
            + server.port()
            + "']\n");
    try (PrometheusServer prom = PrometheusServer.start(yml, dir)) {
      int promPort = prom.port();
      HttpClient http = HttpClient.newHttpClient();
      String up = "";
      long deadline = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < deadline) {
        try {
          up =
              http.send(
                      HttpRequest.newBuilder(
                              URI.create("http://127.0.0.1:" + promPort + "/api/v1/query?query=up"))
                          .build(),
                      HttpResponse.BodyHandlers.ofString())
                  .body();
          if (up.contains("\"value\":[") && up.matches("(?s).*\"value\":\\[[0-9.]+,\"1\"\\].*"))
            break;
        } catch (IOException e) {
          // not listening yet
        }
        Thread.sleep(500);
      }
      System.out.println("prometheus over TLS with basic auth: " + up);
      assertThat(up).matches("(?s).*\"value\":\\[[0-9.]+,\"1\"\\].*");
    }
  }

  /**
   * Hostile clients: connections that never finish their request (each holds a worker until the
   * request time limit), and a request with huge headers, while a real client is still served: at
   * once while slow clients are fewer than the workers, within the time limit when they are more.
   */
  @Test
  void slowAndGreedyClientsDoNotStallOthers() throws Exception {
    server =
        WebServer.create(new WebServer.Options("127.0.0.1", 0, null, 16, "test"))
            .route("/", ex -> ok(ex, "ok\n"))
            .start();
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    for (int slow : new int[] {8, 100}) {
      List<Socket> idle = new ArrayList<>();
      try {
        for (int i = 0; i < slow; i++) {
          Socket s = new Socket("127.0.0.1", server.port());
          s.getOutputStream()
              .write("GET / HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
          idle.add(s);
        }
        Thread.sleep(300);
        long t0 = System.nanoTime();
        HttpResponse<String> r =
            http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/"))
                    .timeout(Duration.ofSeconds(25))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println(
            "hostile http: "
                + slow
                + " half-sent requests held open (16 workers), a real request answered in "
                + ms
                + " ms");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(ms).isLessThan(slow < 16 ? 2_000 : 13_000);
      } finally {
        for (Socket s : idle) s.close();
      }
    }
    // 100 headers of 1 KiB: refused (or the connection closed), never served
    try (Socket s = new Socket("127.0.0.1", server.port())) {
      s.setSoTimeout(15_000);
      OutputStream out = s.getOutputStream();
      StringBuilder req = new StringBuilder("GET / HTTP/1.1\r\nHost: x\r\n");
      for (int i = 0; i < 100; i++)
        req.append("X-H").append(i).append(": ").append("a".repeat(1024)).append("\r\n");
      out.write(req.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
      String status = new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
      System.out.println("hostile http: 100 headers of 1 KiB answered '" + status.trim() + "'");
      assertThat(status).doesNotContain(" 200");
    } catch (IOException e) {
      System.out.println(
          "hostile http: 100 headers of 1 KiB: connection closed (" + e.getMessage() + ")");
    }
  }
}
