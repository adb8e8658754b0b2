package io.leakwatch.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The modules' boundaries (docs/architecture.md): the collector and the streams-app know nothing of
 * each other (they meet only in Kafka records, the schemas module); the CLI uses each one's entry
 * points and the report model and renderers, never the streams-app's HTTP, query or store
 * internals.
 */
class ArchitectureTest {
  private static final JavaClasses CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("io.leakwatch");

  @Test
  void collectorAndStreamsAppMeetOnlyInRecords() {
    noClasses()
        .that()
        .resideInAPackage("io.leakwatch.collector..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("io.leakwatch.streams..")
        .check(CLASSES);
    noClasses()
        .that()
        .resideInAPackage("io.leakwatch.streams..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("io.leakwatch.collector..")
        .check(CLASSES);
  }

  @Test
  void theCliRendersReportsThroughTheModelNotTheHttpLayer() {
    noClasses()
        .that()
        .resideInAPackage("io.leakwatch.cli..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "io.leakwatch.streams.http..",
            "io.leakwatch.streams.query..",
            "io.leakwatch.streams.stores..",
            "io.leakwatch.streams.state..")
        .check(CLASSES);
  }

  @Test
  void theWebServerKnowsNothingOfTheDaemons() {
    noClasses()
        .that()
        .resideInAPackage("io.leakwatch.web..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "io.leakwatch.collector..", "io.leakwatch.streams..", "io.leakwatch.cli..")
        .check(CLASSES);
  }

  @Test
  void schemasDependOnNoModule() {
    noClasses()
        .that()
        .resideInAPackage("io.leakwatch.schemas..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "io.leakwatch.collector..",
            "io.leakwatch.streams..",
            "io.leakwatch.cli..",
            "io.leakwatch.kafka..")
        .check(CLASSES);
  }
}
