package io.leakwatch.collector;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The collector's packages (docs/architecture.md): reading rings ({@code ring}), reading /proc
 * ({@code proc}) and naming frames ({@code symbols}) know nothing of the jobs that use them (this
 * package: discovery, the publishing round, retirement, counters).
 */
class ArchitectureTest {
  private static final String ROOT = "io.leakwatch.collector";
  private static final JavaClasses CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages(ROOT);

  @Test
  void packagesHaveNoCycles() {
    slices().matching(ROOT + ".(*)..").should().beFreeOfCycles().check(CLASSES);
  }

  @Test
  void readersKnowNothingOfTheJobs() {
    layeredArchitecture()
        .consideringOnlyDependenciesInAnyPackage(ROOT + "..")
        .layer("jobs")
        .definedBy(ROOT)
        .layer("symbols")
        .definedBy(ROOT + ".symbols..")
        .layer("ring")
        .definedBy(ROOT + ".ring..")
        .layer("proc")
        .definedBy(ROOT + ".proc..")
        .whereLayer("jobs")
        .mayNotBeAccessedByAnyLayer()
        .whereLayer("symbols")
        .mayOnlyBeAccessedByLayers("jobs")
        .whereLayer("ring")
        .mayOnlyBeAccessedByLayers("jobs", "symbols")
        .whereLayer("proc")
        .mayOnlyBeAccessedByLayers("jobs", "symbols")
        .check(CLASSES);
  }
}
