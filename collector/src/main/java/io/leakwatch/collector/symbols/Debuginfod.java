package io.leakwatch.collector.symbols;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * A client of debuginfod servers (the Linux symbol servers: {@code GET
 * /buildid/BUILDID/debuginfo}), with an on-disk cache by build id laid out as debuginfod's own
 * client lays it out ({@code CACHE/BUILDID/debuginfo}).
 *
 * <p>The servers are someone else's, and may be slow, down, or wrong. Each request has a connect
 * timeout, a per-read timeout and an overall deadline (a server that trickles a byte a second is
 * cut off); a body larger than the limit is abandoned as soon as it says so or grows past it; what
 * arrives must be an ELF file with the build id asked for, else it is discarded; and a build id no
 * server could give is not asked again for a while. Every failure has a reason, counted by the
 * caller. Runs on the line-resolution thread, never on the publishing loop.
 */
public final class Debuginfod {

  /**
   * @param servers base URLs, tried in order (DEBUGINFOD_URLS is a space-separated list of them)
   * @param cacheDir where fetched files are kept by build id
   * @param timeout the whole of one request, headers and body
   * @param maxBytes the largest debug file accepted
   * @param retryAfter how long a build id that no server could give is not asked again
   */
  public record Options(
      List<URI> servers, Path cacheDir, Duration timeout, long maxBytes, Duration retryAfter) {
    public Options withServers(List<URI> urls) {
      return new Options(List.copyOf(urls), cacheDir, timeout, maxBytes, retryAfter);
    }

    public Options withCacheDir(Path dir) {
      return new Options(servers, dir, timeout, maxBytes, retryAfter);
    }

    public Options withLimits(Duration t, long bytes) {
      return new Options(servers, cacheDir, t, bytes, retryAfter);
    }

    /** As {@link #parseUrls}, skipping (not failing on) entries that are not http(s) URLs. */
    public static List<URI> parseUrlsLeniently(String spaceSeparated) {
      List<URI> urls = new ArrayList<>();
      if (spaceSeparated == null) return urls;
      for (String u : spaceSeparated.trim().split("\\s+")) {
        try {
          urls.addAll(parseUrls(u));
        } catch (IllegalArgumentException e) {
          // DEBUGINFOD_URLS is shared with gdb and others; one odd entry must not stop a collector
        }
      }
      return urls;
    }

    public static List<URI> parseUrls(String spaceSeparated) {
      List<URI> urls = new ArrayList<>();
      if (spaceSeparated == null) return urls;
      for (String u : spaceSeparated.trim().split("\\s+")) {
        if (u.isEmpty()) continue;
        URI uri = URI.create(u.endsWith("/") ? u.substring(0, u.length() - 1) : u);
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()))
          throw new IllegalArgumentException("debuginfod URL must be http or https: " + u);
        urls.add(uri);
      }
      return urls;
    }
  }

  private final Options options;
  private final LongSupplier clockMs;
  private final Map<String, Long> failedUntilMs = new HashMap<>();

  public Debuginfod(Options options, LongSupplier clockMs) {
    this.options = options;
    this.clockMs = clockMs;
  }

  public boolean configured() {
    return !options.servers().isEmpty();
  }

  /** The cached debug file of {@code buildId}, fetching it first when it is not cached yet. */
  public Path debugInfo(String buildId) throws LookupFailure {
    if (buildId == null || !buildId.matches("[0-9a-f]{4,128}"))
      throw new LookupFailure("no_build_id", "a module without a usable build id");
    Path cached = options.cacheDir().resolve(buildId).resolve("debuginfo");
    if (Files.isRegularFile(cached)) return cached;
    Long until = failedUntilMs.get(buildId);
    if (until != null && clockMs.getAsLong() < until)
      throw new LookupFailure("not_found", "asked recently, " + buildId);
    LookupFailure last = new LookupFailure("not_found", "no server configured");
    for (URI server : options.servers()) {
      try {
        return fetch(server, buildId, cached);
      } catch (LookupFailure f) {
        last = f;
      }
    }
    failedUntilMs.put(buildId, clockMs.getAsLong() + options.retryAfter().toMillis());
    throw last;
  }

  private Path fetch(URI server, String buildId, Path cached) throws LookupFailure {
    long deadline = System.nanoTime() + options.timeout().toNanos();
    URI uri = URI.create(server + "/buildid/" + buildId + "/debuginfo");
    int timeoutMs = (int) Math.max(1, Math.min(Integer.MAX_VALUE, options.timeout().toMillis()));
    Path partial = null;
    HttpURLConnection c = null;
    try {
      c = (HttpURLConnection) uri.toURL().openConnection();
      c.setConnectTimeout(timeoutMs);
      c.setReadTimeout(timeoutMs);
      c.setRequestProperty("User-Agent", "leakwatch-collector");
      int status = c.getResponseCode();
      if (status == 404) throw new LookupFailure("not_found", uri.toString());
      if (status != 200) throw new LookupFailure("http_error", "HTTP " + status + " from " + uri);
      long declared = c.getContentLengthLong();
      if (declared > options.maxBytes())
        throw new LookupFailure("too_large", declared + " bytes from " + uri);
      Files.createDirectories(cached.getParent());
      partial = Files.createTempFile(cached.getParent(), "debuginfo", ".part");
      long total = 0;
      try (InputStream in = c.getInputStream();
          OutputStream out = Files.newOutputStream(partial)) {
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) >= 0; ) {
          total += n;
          if (total > options.maxBytes())
            throw new LookupFailure(
                "too_large", "more than " + options.maxBytes() + " bytes from " + uri);
          if (System.nanoTime() > deadline)
            throw new LookupFailure("timeout", "slower than " + options.timeout() + " from " + uri);
          out.write(buf, 0, n);
        }
      }
      String got = ElfSymbols.loadHeaders(partial).buildId();
      if (!buildId.equals(got))
        throw new LookupFailure(
            "wrong_build_id",
            uri + " answered with " + (got == null ? "a file without a build id" : got));
      try {
        Files.move(partial, cached, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(partial, cached, StandardCopyOption.REPLACE_EXISTING);
      }
      partial = null;
      return cached;
    } catch (SocketTimeoutException e) {
      throw new LookupFailure("timeout", uri + ": " + e.getMessage());
    } catch (IOException | IllegalArgumentException e) {
      throw new LookupFailure("unreachable", uri + ": " + e);
    } finally {
      if (c != null) c.disconnect();
      if (partial != null) {
        try {
          Files.deleteIfExists(partial);
        } catch (IOException ignored) {
          // a stray .part file is harmless: it is never read
        }
      }
    }
  }
}
