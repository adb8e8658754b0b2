package io.leakwatch.web;

import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.security.crypto.bcrypt.BCrypt;

/**
 * A daemon's HTTP server: plain HTTP, or HTTPS with the certificate and key of its web
 * configuration; basic authentication with bcrypt hashes and read-only roles on every route except
 * health; the configuration files watched and reloaded when they change (a new certificate, a new
 * user) without a restart, a file with a mistake logged and ignored. Bounded against hostile
 * clients: a few worker threads, time limits on reading a request and writing a response, a cap on
 * request headers.
 */
public final class WebServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(WebServer.class);

  static {
    // The JDK server's limits are system properties read once: set them before the first server.
    // Seconds to read a request: the JDK server reads a request's headers on a worker thread, so a
    // client that never finishes its request holds a thread until then (slowloris).
    setIfAbsent("sun.net.httpserver.maxReqTime", "10");
    setIfAbsent("sun.net.httpserver.maxRspTime", "120"); // seconds to write a response
    setIfAbsent("sun.net.httpserver.maxReqHeaders", "64");
    setIfAbsent("sun.net.httpserver.maxReqHeaderSize", "32768"); // honoured from JDK 21
    setIfAbsent("sun.net.httpserver.idleInterval", "30");
    setIfAbsent("sun.net.httpserver.maxIdleConnections", "64");
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) System.setProperty(key, value);
  }

  /**
   * @param webConfig null: plain HTTP, no authentication
   * @param threads the most worker threads (each slow client holds one for up to 10 s): requests
   *     beyond them wait in line
   * @param name for thread names and logs ("streams-app", "collector")
   */
  public record Options(String bind, int port, Path webConfig, int threads, String name) {}

  private final HttpServer server;
  private final ExecutorService workers;
  private final AtomicReference<WebConfig> current;
  private final Path configFile;
  private final ScheduledExecutorService watcher;
  private final Filter auth = new BasicAuth();
  private volatile String fingerprint;
  private final Map<String, String> verified = new ConcurrentHashMap<>();

  private WebServer(Options o) {
    this.configFile = o.webConfig();
    WebConfig config = configFile == null ? WebConfig.OPEN : WebConfig.load(configFile);
    this.current = new AtomicReference<>(config);
    this.fingerprint = fingerprint(config);
    InetSocketAddress address;
    try {
      address = new InetSocketAddress(InetAddress.getByName(o.bind()), o.port());
      if (config.tls() != null) {
        HttpsServer https = HttpsServer.create(address, 64);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(
            new KeyManager[] {new CurrentKey()}, new TrustManager[] {new CurrentClientCas()}, null);
        https.setHttpsConfigurator(new Configurator(ssl));
        server = https;
      } else {
        server = HttpServer.create(address, 64);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot listen on " + o.bind() + ":" + o.port(), e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("no TLS in this JVM", e);
    }
    // Up to `threads` workers, made as requests come and gone after 30 s idle: slow clients each
    // hold one until maxReqTime, requests beyond wait in line.
    ThreadPoolExecutor pool =
        new ThreadPoolExecutor(
            Math.max(1, o.threads()),
            Math.max(1, o.threads()),
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            r -> {
              Thread t = new Thread(r, "leakwatch-" + o.name() + "-http");
              t.setDaemon(true);
              return t;
            });
    pool.allowCoreThreadTimeOut(true);
    workers = pool;
    server.setExecutor(workers);
    watcher =
        configFile == null
            ? null
            : Executors.newSingleThreadScheduledExecutor(
                r -> {
                  Thread t = new Thread(r, "leakwatch-" + o.name() + "-web-config");
                  t.setDaemon(true);
                  return t;
                });
  }

  /** A server not yet started: add its routes, then {@link #start()}. */
  public static WebServer create(Options o) {
    return new WebServer(o);
  }

  /** Serves {@code path} (and below it) through the authentication of the web configuration. */
  public WebServer route(String path, HttpHandler handler) {
    server.createContext(path, handler).getFilters().add(auth);
    return this;
  }

  public WebServer start() {
    server.start();
    if (watcher != null)
      watcher.scheduleWithFixedDelay(this::reloadIfChanged, 2, 2, TimeUnit.SECONDS);
    return this;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  public boolean tls() {
    return server instanceof HttpsServer;
  }

  /** The configuration in force (the last good one read). */
  public WebConfig config() {
    return current.get();
  }

  /** The user a request authenticated as (null: no authentication configured, or an open path). */
  public static String user(HttpExchange ex) {
    return (String) ex.getAttribute(USER);
  }

  private static final String USER = "leakwatch.user";

  /**
   * Reads the files again when one of them changed; a file with a mistake keeps the old
   * configuration.
   */
  void reloadIfChanged() {
    try {
      WebConfig old = current.get();
      String before = fingerprint(old);
      if (before.equals(fingerprint)) return;
      WebConfig fresh = WebConfig.load(configFile);
      // A file written while it was read (an editor truncates, then writes) is read again next
      // time.
      if (!fingerprint(fresh).equals(before) || !fingerprint(old).equals(before)) return;
      fingerprint = before;
      if ((fresh.tls() != null) != tls()) {
        log.error(
            "{}: TLS was {} at start and cannot be turned {} without a restart; keeping the configuration in force",
            configFile,
            tls() ? "on" : "off",
            tls() ? "off" : "on");
        return;
      }
      if (old.authenticates() && !fresh.authenticates()) {
        // A half-written file must never open the reports to everyone: turning authentication off
        // takes a restart.
        log.error(
            "{}: no basic_auth_users any more; authentication cannot be turned off without a restart, keeping the configuration in force",
            configFile);
        return;
      }
      current.set(fresh);
      verified.clear();
      log.info(
          "{}: reloaded ({} users, TLS {})",
          configFile,
          fresh.users().size(),
          fresh.tls() != null ? "on" : "off");
    } catch (RuntimeException e) {
      log.error(
          "{}: not reloaded, the configuration in force stays: {}", configFile, e.getMessage());
    }
  }

  /** Sizes and modification times of the configuration file and every file it names. */
  private String fingerprint(WebConfig config) {
    StringBuilder b = new StringBuilder();
    List<Path> files = new ArrayList<>(config.files());
    if (configFile != null && !files.contains(configFile.toAbsolutePath()))
      files.add(configFile.toAbsolutePath());
    for (Path p : files) {
      try {
        b.append(p)
            .append(':')
            .append(Files.size(p))
            .append(':')
            .append(Files.getLastModifiedTime(p).toMillis())
            .append(';');
      } catch (IOException e) {
        b.append(p).append(":gone;");
      }
    }
    return b.toString();
  }

  @Override
  public void close() {
    if (watcher != null) watcher.shutdownNow();
    server.stop(0);
    workers.shutdownNow();
  }

  /** Basic authentication and roles, before every route but health. */
  private final class BasicAuth extends Filter {
    @Override
    public void doFilter(HttpExchange ex, Chain chain) throws IOException {
      WebConfig config = current.get();
      String path = ex.getRequestURI().getPath();
      if (!config.authenticates() || Role.open(path)) {
        chain.doFilter(ex);
        return;
      }
      String user = authenticate(ex.getRequestHeaders().getFirst("Authorization"), config);
      if (user == null) {
        ex.getResponseHeaders()
            .set("WWW-Authenticate", "Basic realm=\"leakwatch\", charset=\"UTF-8\"");
        refuse(ex, 401, "authentication required\n");
        return;
      }
      if (!config.roleOf(user).allows(path)) {
        refuse(ex, 403, "user " + user + " may read /metrics only\n");
        return;
      }
      ex.setAttribute(USER, user);
      chain.doFilter(ex);
    }

    @Override
    public String description() {
      return "basic authentication and roles of the web configuration";
    }
  }

  /** A dummy hash to spend the same time on unknown users as on known ones. */
  private static final String DUMMY = BCrypt.hashpw("leakwatch", BCrypt.gensalt(10));

  /** The user of a valid {@code Authorization: Basic} header, else null. */
  String authenticate(String header, WebConfig config) {
    if (header == null || header.length() > 4096 || !header.regionMatches(true, 0, "Basic ", 0, 6))
      return null;
    String decoded;
    try {
      decoded =
          new String(
              Base64.getDecoder().decode(header.substring(6).trim()), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return null;
    }
    int colon = decoded.indexOf(':');
    if (colon <= 0) return null;
    String user = decoded.substring(0, colon), password = decoded.substring(colon + 1);
    String hash = config.users().get(user);
    // bcrypt is slow on purpose (tens of ms): a password checked once is remembered by its digest.
    String key = user + ":" + sha256(password);
    if (hash != null && hash.equals(verified.get(key))) return user;
    boolean ok;
    try {
      ok = BCrypt.checkpw(password, hash != null ? hash : DUMMY) && hash != null;
    } catch (IllegalArgumentException e) {
      ok = false;
    }
    if (!ok) return null;
    if (verified.size() > 1024) verified.clear();
    verified.put(key, hash);
    return user;
  }

  private static String sha256(String s) {
    try {
      return Base64.getEncoder()
          .encodeToString(
              MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void refuse(HttpExchange ex, int status, String text) throws IOException {
    try (ex) {
      byte[] body = text.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
      ex.sendResponseHeaders(status, "HEAD".equals(ex.getRequestMethod()) ? -1 : body.length);
      if (!"HEAD".equals(ex.getRequestMethod())) ex.getResponseBody().write(body);
    }
  }

  /** Protocols and client certificates per connection, from the configuration in force. */
  private final class Configurator extends HttpsConfigurator {
    Configurator(SSLContext ssl) {
      super(ssl);
    }

    @Override
    public void configure(HttpsParameters p) {
      WebConfig.Tls tls = current.get().tls();
      SSLParameters params = getSSLContext().getDefaultSSLParameters();
      params.setProtocols(
          "TLS13".equals(tls.minVersion())
              ? new String[] {"TLSv1.3"}
              : new String[] {"TLSv1.3", "TLSv1.2"});
      boolean require = tls.requiresClientCert();
      boolean request = !tls.clientAuth().equals("NoClientCert");
      if (require) params.setNeedClientAuth(true);
      else if (request) params.setWantClientAuth(true);
      p.setSSLParameters(params);
    }
  }

  /** The server's certificate and key, from the configuration in force (a reload swaps them). */
  private final class CurrentKey extends X509ExtendedKeyManager {
    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
      return "server";
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
      return "server";
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      return current.get().tls().chain();
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      return current.get().tls().key();
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      return new String[] {"server"};
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      return null;
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
      return null;
    }
  }

  /**
   * Client certificates checked against the client CAs in force; accepted as they are when the type
   * says so.
   */
  private final class CurrentClientCas extends X509ExtendedTrustManager {
    /** The trust manager and the configuration it was built from, swapped together. */
    private record Built(WebConfig config, X509TrustManager pkix) {}

    private final AtomicReference<Built> built = new AtomicReference<>();

    private X509TrustManager pkix(WebConfig config) throws CertificateException {
      Built b = built.get();
      if (b != null && b.config() == config) return b.pkix();
      try {
        TrustManagerFactory f =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init(PemFiles.trustStore(config.tls().clientCas()));
        X509TrustManager tm = (X509TrustManager) f.getTrustManagers()[0];
        built.set(new Built(config, tm));
        return tm;
      } catch (GeneralSecurityException e) {
        throw new CertificateException("client CAs: " + e.getMessage(), e);
      }
    }

    private void check(X509Certificate[] chain, String authType) throws CertificateException {
      WebConfig config = current.get();
      WebConfig.Tls tls = config.tls();
      if (!tls.verifiesClients()) return; // RequestClientCert, RequireAnyClientCert: not verified
      if (tls.clientCas().isEmpty()) throw new CertificateException("no client CA configured");
      pkix(config).checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      throw new CertificateException("a server does not check servers");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      throw new CertificateException("a server does not check servers");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      throw new CertificateException("a server does not check servers");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      WebConfig.Tls tls = current.get().tls();
      return tls == null ? new X509Certificate[0] : tls.clientCas().toArray(new X509Certificate[0]);
    }
  }
}
