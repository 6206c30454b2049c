using Xunit;

// The tests share libtorch's global generator (dropout, initialisation): running them in parallel would make
// seeded runs depend on scheduling, and exact-resume comparisons meaningless.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
