package io.leakwatch.web;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * How one instance calls another (the streams-app forwards report queries to the instance that owns
 * a process): over HTTPS when the instances serve TLS, trusting the CAs of {@code leakwatch_peer},
 * and with its basic-auth credentials when the instances authenticate.
 *
 * @param ssl null over plain HTTP
 * @param authorization the Authorization header value, null without credentials
 */
public record PeerAccess(String scheme, SSLContext ssl, String authorization) {
  public static final PeerAccess PLAIN = new PeerAccess("http", null, null);

  public static PeerAccess of(WebConfig config) {
    WebConfig.Peer peer = config.peer();
    String auth =
        peer == null || peer.username() == null
            ? null
            : "Basic "
                + Base64.getEncoder()
                    .encodeToString(
                        (peer.username() + ":" + peer.password()).getBytes(StandardCharsets.UTF_8));
    if (config.tls() == null) return new PeerAccess("http", null, auth);
    try {
      TrustManagerFactory f =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      f.init(
          peer != null && peer.trust() != null
              ? peer.trust()
              : PemFiles.trustStore(
                  java.util.List.of(config.tls().chain()[config.tls().chain().length - 1])));
      SSLContext ssl = SSLContext.getInstance("TLS");
      ssl.init(null, f.getTrustManagers(), null);
      return new PeerAccess("https", ssl, auth);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
