using Xunit;
namespace HpsSharp.Evaluation.Tests;
public sealed class TmpPlotDump
{
    [Fact]
    public async Task Dump()
    {
        using var fx = new Fixtures();
        using var scorer = fx.Scorer();
        var r = await Evaluator.RunAsync(EvalDataset.Open(fx.Hpdv3()), new ModelScoreSource(scorer, null, fx.Root));
        Reports.Write(r, "/tmp/eval-plots/eval");
        using var dir = HpsSharp.Testing.TestPaths.TempDir();
        var (root, scores) = BenchmarkTests.BuildPaperBenchmark(dir);
        Reports.Write(await BenchmarkRunner.RunAsync(root, ScoresFileSource.Load(scores)), "/tmp/eval-plots/bench");
    }
}
