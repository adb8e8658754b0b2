package io.leakwatch.streams.report;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class UnitsTest {
  @Test
  void bytesAreBinaryInTheLargestUnitOfWhichThereIsOne() {
    assertThat(Units.bytes(0)).isEqualTo("0 bytes");
    assertThat(Units.bytes(422)).isEqualTo("422 bytes");
    assertThat(Units.bytes(1023)).isEqualTo("1,023 bytes");
    assertThat(Units.bytes(1024)).isEqualTo("1.0 KiB");
    assertThat(Units.bytes(4_000 * 1024)).isEqualTo("3.9 MiB");
    assertThat(Units.bytes(10L << 20)).isEqualTo("10.0 MiB");
    assertThat(Units.bytes(1536L << 20)).isEqualTo("1.5 GiB");
    assertThat(Units.bytes(10L << 30)).isEqualTo("10.0 GiB");
    assertThat(Units.bytes(Long.MAX_VALUE)).endsWith("TiB");
    assertThat(Units.signedBytes(-(20L << 20))).isEqualTo("-20.0 MiB");
    assertThat(Units.rate(0.5)).isEqualTo("-");
  }

  @Test
  void durationsReadAsPeopleSayThem() {
    assertThat(Units.duration(0.42)).isEqualTo("0.4 s");
    assertThat(Units.duration(42)).isEqualTo("42 s");
    assertThat(Units.duration(725)).isEqualTo("12 min 5 s");
    assertThat(Units.duration(600)).isEqualTo("10 min");
    assertThat(Units.duration(11520)).isEqualTo("3 h 12 min");
    assertThat(Units.duration(2 * 86400 + 4 * 3600)).isEqualTo("2 days 4 h");
    assertThat(Units.duration(86400)).isEqualTo("1 day");
    assertThat(Units.duration(Double.NaN)).isEqualTo("-");
  }
}
