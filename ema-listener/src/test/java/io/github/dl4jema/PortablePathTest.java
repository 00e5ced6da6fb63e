package io.github.dl4jema;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;

/**
 * The closed-form, kernel, selection, allocation, precision and rejected-update tests (of networks and SameDiff graphs) again, with every blend routed through the portable ND4J
 * path that the CUDA backend takes ({@link BlendKernel#portableOnly}): the GPU path runs on every build, on the CPU.
 */
class PortablePathTest {

    @BeforeEach
    void portable() {
        BlendKernel.portableOnly = true;
    }

    @AfterEach
    void host() {
        BlendKernel.portableOnly = false;
    }

    @Nested
    class ClosedForms extends ClosedFormTest {
    }

    @Nested
    class Kernel extends BlendKernelTest {
    }

    @Nested
    class Selections extends ParameterSelectionTest {
    }

    @Nested
    class Allocation extends AllocationTest {
    }

    @Nested
    class Precision extends PrecisionTest {
    }

    @Nested
    class SameDiffClosedForms extends SameDiffClosedFormTest {
    }

    @Nested
    class SameDiffAllocation extends SameDiffAllocationTest {
    }

    @Nested
    class RejectedUpdates extends RejectedUpdateTest {
    }
}
