package io.leakwatch.web;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/** Certificates and keys from PEM files, as web configurations name them. */
final class PemFiles {
  private PemFiles() {}

  static List<X509Certificate> certificates(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      List<X509Certificate> out = new ArrayList<>();
      for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in))
        out.add((X509Certificate) c);
      if (out.isEmpty()) throw new IllegalArgumentException(file + " holds no certificate");
      return out;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalArgumentException(
          file + " is not a PEM certificate file: " + e.getMessage(), e);
    }
  }

  /**
   * PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"); not encrypted.
   */
  static PrivateKey privateKey(Path file) {
    try (Reader r = Files.newBufferedReader(file);
        PEMParser pem = new PEMParser(r)) {
      Object o = pem.readObject();
      JcaPEMKeyConverter convert = new JcaPEMKeyConverter();
      if (o instanceof PEMKeyPair pair) {
        // SEC1 and PKCS#1 keys usually carry their public half; only the private part is needed.
        return pair.getPublicKeyInfo() != null
            ? convert.getKeyPair(pair).getPrivate()
            : convert.getPrivateKey(pair.getPrivateKeyInfo());
      }
      if (o instanceof PrivateKeyInfo info) return convert.getPrivateKey(info);
      throw new IllegalArgumentException(
          file
              + " holds no unencrypted private key"
              + (o == null ? "" : " (found " + o.getClass().getSimpleName() + ")"));
    } catch (IOException e) {
      throw new IllegalArgumentException(file + " is not a PEM key file: " + e.getMessage(), e);
    }
  }

  /** The key is the certificate's: a mismatch is refused at load, not at the first handshake. */
  static void requireMatch(X509Certificate cert, PrivateKey key, Path certFile, Path keyFile) {
    try {
      PublicKey pub = cert.getPublicKey();
      String alg =
          pub.getAlgorithm().equals("EC")
              ? "SHA256withECDSA"
              : pub.getAlgorithm().equals("RSA") ? "SHA256withRSA" : null;
      if (alg == null) return; // Ed25519 and others: the handshake will tell
      byte[] probe = "leakwatch".getBytes();
      Signature s = Signature.getInstance(alg);
      s.initSign(key);
      s.update(probe);
      byte[] sig = s.sign();
      s.initVerify(pub);
      s.update(probe);
      if (!s.verify(sig))
        throw new IllegalArgumentException(keyFile + " is not the key of " + certFile);
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(
          keyFile + " is not the key of " + certFile + ": " + e.getMessage(), e);
    }
  }

  static KeyStore trustStore(List<X509Certificate> cas) {
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      int i = 0;
      for (X509Certificate c : cas) ks.setCertificateEntry("ca-" + i++, c);
      return ks;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
