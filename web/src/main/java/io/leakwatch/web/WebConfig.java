package io.leakwatch.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The web configuration of a daemon's HTTP server ({@code --web-config FILE}), in the format of
 * Prometheus's exporter toolkit ({@code --web.config.file} of node_exporter and every exporter
 * built on it), so that Prometheus scrape configs and Grafana data sources speak it as they are:
 *
 * <pre>
 * tls_server_config:
 *   cert_file: server.crt          # PEM: the certificate, then its chain
 *   key_file: server.key           # PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC)
 *   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert (default), VerifyClientCertIfGiven
 *   client_ca_file: ca.crt         # the CAs a client certificate must chain to
 *   min_version: TLS12             # or TLS13
 * basic_auth_users:
 *   alice: $2y$10$...              # bcrypt hashes (htpasswd -nBC 10 alice)
 *   prometheus: $2y$10$...
 * leakwatch_roles:                 # leakwatch's own: who may read what
 *   metrics: [prometheus]          # /metrics (and /healthz, /readyz) only; everyone else may read all
 * leakwatch_peer:                  # how streams-app instances call each other (forwarded queries)
 *   username: peer                 # a user of basic_auth_users
 *   password_file: peer.password
 *   ca_file: ca.crt                # trusted for the peers' certificates (default: cert_file's chain)
 * </pre>
 *
 * Relative paths are resolved against the file's directory. Everything is checked when the file is
 * read (certificates and keys loaded, hashes well-formed, names known): a file with a mistake is
 * refused with its reason, at start and at every reload, and a reload that fails keeps the last
 * good configuration.
 */
public record WebConfig(
    Tls tls, Map<String, String> users, Map<String, Role> roles, Peer peer, List<Path> files) {

  /** No file: plain HTTP, no authentication (the default, bound to 127.0.0.1). */
  public static final WebConfig OPEN = new WebConfig(null, Map.of(), Map.of(), null, List.of());

  /**
   * @param clientAuth NoClientCert, RequestClientCert, RequireAnyClientCert,
   *     VerifyClientCertIfGiven or RequireAndVerifyClientCert, as in Go's crypto/tls
   * @param clientCas null unless client certificates are verified
   */
  public record Tls(
      PrivateKey key,
      X509Certificate[] chain,
      String clientAuth,
      List<X509Certificate> clientCas,
      String minVersion) {
    public boolean verifiesClients() {
      return clientAuth.startsWith("Verify") || clientAuth.equals("RequireAndVerifyClientCert");
    }

    public boolean requiresClientCert() {
      return clientAuth.startsWith("Require");
    }
  }

  /** How this instance authenticates to its peers, and whom it trusts for their certificates. */
  public record Peer(String username, String password, KeyStore trust) {}

  public boolean authenticates() {
    return !users.isEmpty();
  }

  /** The role of a user: {@link Role#READ} unless the file says otherwise. */
  public Role roleOf(String user) {
    return roles.getOrDefault(user, Role.READ);
  }

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Set<String> TOP =
      Set.of(
          "tls_server_config",
          "basic_auth_users",
          "leakwatch_roles",
          "leakwatch_peer",
          "http_server_config");
  private static final Set<String> CLIENT_AUTH =
      Set.of(
          "NoClientCert",
          "RequestClientCert",
          "RequireAnyClientCert",
          "VerifyClientCertIfGiven",
          "RequireAndVerifyClientCert");

  /** $2a$, $2b$ or $2y$, a two-digit cost, 53 characters of bcrypt's base64. */
  private static final Pattern BCRYPT = Pattern.compile("\\$2[aby]\\$\\d\\d\\$[./A-Za-z0-9]{53}");

  private static final int MAX_FILE_BYTES = 1 << 20;

  /**
   * Reads and checks {@code file}; every mistake is an {@link IllegalArgumentException} with its
   * reason.
   */
  public static WebConfig load(Path file) {
    Path dir = file.toAbsolutePath().getParent();
    List<Path> files = new ArrayList<>(List.of(file.toAbsolutePath()));
    JsonNode root;
    try {
      if (Files.size(file) > MAX_FILE_BYTES)
        throw new IllegalArgumentException(file + ": larger than 1 MiB");
      root = YAML.readTree(Files.readString(file, StandardCharsets.UTF_8));
    } catch (IOException | RuntimeException e) {
      if (e instanceof IllegalArgumentException iae && iae.getMessage().startsWith(file.toString()))
        throw iae;
      throw new IllegalArgumentException(
          file + ": not a readable YAML web configuration: " + e.getMessage(), e);
    }
    try {
      return parse(root, dir, files);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
    }
  }

  static WebConfig parse(JsonNode root, Path dir, List<Path> files) {
    if (root == null || root.isNull() || root.isMissingNode())
      return new WebConfig(null, Map.of(), Map.of(), null, files);
    if (!root.isObject()) throw new IllegalArgumentException("the top level must be a mapping");
    onlyKeys(root, TOP, "");
    Tls tls =
        root.has("tls_server_config") ? tls(object(root, "tls_server_config"), dir, files) : null;
    Map<String, String> users = new LinkedHashMap<>();
    if (root.has("basic_auth_users")) {
      JsonNode u = object(root, "basic_auth_users");
      for (Iterator<Map.Entry<String, JsonNode>> it = u.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (e.getKey().isEmpty() || e.getKey().contains(":")) {
          throw new IllegalArgumentException(
              "basic_auth_users: a user name may not be empty or contain ':'");
        }
        String hash = e.getValue().isTextual() ? e.getValue().asText() : "";
        if (!BCRYPT.matcher(hash).matches()) {
          throw new IllegalArgumentException(
              "basic_auth_users."
                  + e.getKey()
                  + " is not a bcrypt hash (make one with: htpasswd -nBC 10 "
                  + e.getKey()
                  + ")");
        }
        users.put(e.getKey(), hash);
      }
    }
    Map<String, Role> roles = new LinkedHashMap<>();
    if (root.has("leakwatch_roles")) {
      JsonNode r = object(root, "leakwatch_roles");
      onlyKeys(r, Set.of("metrics", "read"), "leakwatch_roles.");
      for (String role : List.of("metrics", "read")) {
        for (String user : strings(r, role, "leakwatch_roles.")) {
          if (!users.containsKey(user)) {
            throw new IllegalArgumentException(
                "leakwatch_roles."
                    + role
                    + " names '"
                    + user
                    + "', who is not in basic_auth_users");
          }
          roles.put(user, role.equals("metrics") ? Role.METRICS : Role.READ);
        }
      }
    }
    Peer peer =
        root.has("leakwatch_peer")
            ? peer(object(root, "leakwatch_peer"), dir, files, tls, users)
            : null;
    return new WebConfig(tls, Map.copyOf(users), Map.copyOf(roles), peer, List.copyOf(files));
  }

  private static Tls tls(JsonNode t, Path dir, List<Path> files) {
    onlyKeys(
        t,
        // max_version, cipher_suites, curve_preferences: not supported (the JDK's defaults apply),
        // so refused rather than silently ignored
        Set.of("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"),
        "tls_server_config.");
    Path cert = file(t, "cert_file", dir, files, "tls_server_config.");
    Path key = file(t, "key_file", dir, files, "tls_server_config.");
    if (cert == null || key == null)
      throw new IllegalArgumentException("tls_server_config needs cert_file and key_file");
    String clientAuth =
        t.has("client_auth_type") ? t.get("client_auth_type").asText() : "NoClientCert";
    if (!CLIENT_AUTH.contains(clientAuth)) {
      throw new IllegalArgumentException(
          "tls_server_config.client_auth_type must be one of " + String.join(", ", CLIENT_AUTH));
    }
    Path ca = file(t, "client_ca_file", dir, files, "tls_server_config.");
    boolean verifies =
        clientAuth.startsWith("Verify") || clientAuth.equals("RequireAndVerifyClientCert");
    if (verifies && ca == null) {
      throw new IllegalArgumentException(
          "tls_server_config.client_auth_type " + clientAuth + " needs client_ca_file");
    }
    String min = t.has("min_version") ? t.get("min_version").asText() : "TLS12";
    if (!min.equals("TLS12") && !min.equals("TLS13")) {
      throw new IllegalArgumentException("tls_server_config.min_version must be TLS12 or TLS13");
    }
    X509Certificate[] chain = PemFiles.certificates(cert).toArray(new X509Certificate[0]);
    PrivateKey privateKey = PemFiles.privateKey(key);
    PemFiles.requireMatch(chain[0], privateKey, cert, key);
    return new Tls(
        privateKey, chain, clientAuth, ca == null ? List.of() : PemFiles.certificates(ca), min);
  }

  private static Peer peer(
      JsonNode p, Path dir, List<Path> files, Tls tls, Map<String, String> users) {
    onlyKeys(p, Set.of("username", "password_file", "ca_file"), "leakwatch_peer.");
    String user = p.has("username") ? p.get("username").asText() : null;
    Path passwordFile = file(p, "password_file", dir, files, "leakwatch_peer.");
    if ((user == null) != (passwordFile == null)) {
      throw new IllegalArgumentException(
          "leakwatch_peer needs both username and password_file, or neither");
    }
    String password = null;
    if (user != null) {
      if (!users.containsKey(user)) {
        throw new IllegalArgumentException(
            "leakwatch_peer.username '" + user + "' is not in basic_auth_users");
      }
      try {
        password = Files.readString(passwordFile, StandardCharsets.UTF_8).strip();
      } catch (IOException e) {
        throw new IllegalArgumentException("leakwatch_peer.password_file: " + e.getMessage());
      }
    }
    Path ca = file(p, "ca_file", dir, files, "leakwatch_peer.");
    List<X509Certificate> trusted =
        ca != null
            ? PemFiles.certificates(ca)
            : tls != null ? List.of(tls.chain()[tls.chain().length - 1]) : List.of();
    return new Peer(user, password, trusted.isEmpty() ? null : PemFiles.trustStore(trusted));
  }

  private static Path file(JsonNode n, String key, Path dir, List<Path> files, String where) {
    if (!n.has(key)) return null;
    if (!n.get(key).isTextual() || n.get(key).asText().isBlank()) {
      throw new IllegalArgumentException(where + key + " must be a file name");
    }
    Path p = dir.resolve(n.get(key).asText()).normalize();
    if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
      throw new IllegalArgumentException(where + key + ": " + p + " is not a readable file");
    }
    files.add(p);
    return p;
  }

  private static JsonNode object(JsonNode parent, String key) {
    JsonNode n = parent.get(key);
    if (n == null || n.isNull()) return YAML.createObjectNode();
    if (!n.isObject()) throw new IllegalArgumentException(key + " must be a mapping");
    return n;
  }

  private static List<String> strings(JsonNode parent, String key, String where) {
    JsonNode n = parent.get(key);
    if (n == null || n.isNull()) return List.of();
    if (!n.isArray())
      throw new IllegalArgumentException(where + key + " must be a list of user names");
    List<String> out = new ArrayList<>();
    for (JsonNode e : n) {
      if (!e.isTextual())
        throw new IllegalArgumentException(where + key + " entries must be user names");
      out.add(e.asText());
    }
    return out;
  }

  private static void onlyKeys(JsonNode n, Set<String> allowed, String where) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!allowed.contains(k)) {
        throw new IllegalArgumentException(
            "unknown setting '"
                + where
                + k
                + "' (known: "
                + String.join(", ", new java.util.TreeSet<>(allowed))
                + ")");
      }
    }
  }
}
