package io.leakwatch.web;

import java.io.Writer;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.util.Date;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate authority for tests: a CA, server certificates for 127.0.0.1, client certificates.
 */
final class TestCa {
  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());
  final KeyPair caKeys;
  final X509Certificate ca;

  TestCa(String name) throws Exception {
    caKeys = keys();
    ca = sign(name, caKeys, name, caKeys, true, null);
  }

  static KeyPair keys() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(256);
    return g.generateKeyPair();
  }

  private static X509Certificate sign(
      String subject,
      KeyPair subjectKeys,
      String issuer,
      KeyPair issuerKeys,
      boolean isCa,
      GeneralNames san)
      throws Exception {
    long now = System.currentTimeMillis();
    JcaX509v3CertificateBuilder b =
        new JcaX509v3CertificateBuilder(
            new X500Name("CN=" + issuer),
            BigInteger.valueOf(SERIAL.incrementAndGet()),
            new Date(now - 3_600_000),
            new Date(now + 86_400_000L),
            new X500Name("CN=" + subject),
            subjectKeys.getPublic());
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(isCa));
    if (san != null) b.addExtension(Extension.subjectAlternativeName, false, san);
    return new JcaX509CertificateConverter()
        .getCertificate(
            b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuerKeys.getPrivate())));
  }

  /** Writes cert and key PEM files for 127.0.0.1 and localhost signed by this CA. */
  void server(Path cert, Path key) throws Exception {
    KeyPair k = keys();
    X509Certificate c =
        sign(
            "leakwatch test server",
            k,
            subjectOfCa(),
            caKeys,
            false,
            new GeneralNames(
                new GeneralName[] {
                  new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                  new GeneralName(GeneralName.dNSName, "localhost")
                }));
    write(cert, c, ca);
    write(key, new JcaPKCS8Generator(k.getPrivate(), null));
  }

  void client(String name, Path cert, Path key) throws Exception {
    KeyPair k = keys();
    write(cert, sign(name, k, subjectOfCa(), caKeys, false, null));
    write(key, new JcaPKCS8Generator(k.getPrivate(), null));
  }

  void caFile(Path file) throws Exception {
    write(file, ca);
  }

  private String subjectOfCa() {
    return ca.getSubjectX500Principal().getName().replaceFirst("^CN=", "");
  }

  private static void write(Path file, Object... objects) throws Exception {
    try (Writer w = Files.newBufferedWriter(file);
        JcaPEMWriter pem = new JcaPEMWriter(w)) {
      for (Object o : objects) pem.writeObject(o);
    }
  }
}
