package io.leakwatch.cli;

import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.config.Configurator;

/**
 * The log levels of a daemon run through {@code ./leakwatch collector|streams}. The CLI's own
 * configuration keeps interactive commands quiet (warnings only); a daemon logs what an operator
 * needs: each ring followed or refused, publish failures, restores, state changes and the minute's
 * health line (as the standalone jars do with their own log4j2.xml).
 */
final class DaemonLogging {
  private DaemonLogging() {}

  static void asDaemon() {
    Configurator.setLevel("io.leakwatch", Level.INFO);
    Configurator.setLevel("org.apache.kafka", Level.WARN);
  }
}
