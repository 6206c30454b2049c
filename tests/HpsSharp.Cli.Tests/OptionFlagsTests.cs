using HpsSharp.Cli.Commands;
using HpsSharp.Cli.Infrastructure;
using HpsSharp.Cohp;
using HpsSharp.Core;
using HpsSharp.Testing;
using HpsSharp.Training;
using Xunit;

namespace HpsSharp.Cli.Tests;

/// <summary>The one field → flag table: libraries name fields, the CLI prints the flags the user typed.</summary>
[Trait("Category", "Integration")]
public sealed class OptionFlagsTests
{
    [Fact]
    public void EveryTrainingFieldIsItsConfigurationKeyWithDashes()
    {
        // The config-file format is "the flags without dashes": the table and the library's keys must agree, and
        // hps train declares exactly the library's fields.
        foreach (var (field, key) in TrainingOptions.KeyOfField)
        {
            Assert.Equal("--" + key, OptionFlags.Of(field));
        }

        Assert.Equal(TrainingOptions.KeyOfField.Keys.Order(StringComparer.Ordinal), TrainCommand.Options.Select(o => o.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void EveryCommandFactoryIsRegisteredOnce()
    {
        // Registration is explicit; a command class that is not listed would silently be missing from hps.
        var declared = typeof(CliApp).Assembly.GetTypes()
            .Where(t => typeof(ICommandFactory).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => t.FullName!).Order(StringComparer.Ordinal);
        Assert.Equal(declared, CliApp.Commands.Select(c => c.GetType().FullName!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void LibraryErrorsAreRenderedWithFlags()
    {
        var ex = Assert.Throws<UserInputException>(() => new CohpOptions { CandidatesPerRound = 0 }.Validate());
        Assert.Equal("--candidates: is 0; must be at least 1", OptionFlags.Describe(ex));
        var merge = Assert.Throws<UserInputException>(() => (new TrainingOptions { Model = "m", Data = "d", Out = "o", Lora = true, FreezeVision = true }).Validate());
        Assert.Equal("--lora: already freezes the backbone: leave out --freeze-decoder/--freeze-vision and choose layers with --lora-targets", OptionFlags.Describe(merge));
        Assert.Equal("--shard-size", OptionFlags.Of(nameof(Hub.Checkpoints.ConvertOptions.MaxShardBytes)));
        Assert.Equal("--some-new-field", OptionFlags.Of("SomeNewField")); // never a C# name on the console
    }

    [Fact]
    public void AdviceInsideFileAndDatasetErrorsIsRenderedWithFlags()
    {
        // Not only option errors: a file's error whose advice names an option prints that option as its flag too.
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("odd.json"), "[{\"x\": 1}]");
        var odd = Assert.Throws<HpsSharp.Core.Data.DatasetFormatException>(() => HpsSharp.Evaluation.EvalDataset.Detect(dir.File("odd.json")));
        Assert.EndsWith("; pass --format", OptionFlags.Describe(odd), StringComparison.Ordinal);
        Assert.EndsWith("; pass Format", odd.Message, StringComparison.Ordinal);

        File.WriteAllText(dir.File("out.jsonl"), "not json\n");
        var results = Assert.Throws<UserInputException>(() => HpsSharp.Cluster.ResultsFile.Open(dir.File("out.jsonl"), 3));
        Assert.Null(results.Field);
        Assert.Equal($"{dir.File("out.jsonl")}:1: not a line of a cluster job's output (a JSON object with \"index\"); use another --out file", OptionFlags.Describe(results));
        Assert.Equal("--cache-dir", OptionFlags.Of(nameof(Hub.HubOptions.CacheDir)));
        Assert.Equal("--calibration-for", OptionFlags.Of(nameof(Server.RewardServiceOptions.Calibrations)));
        Assert.Equal("--images", OptionFlags.Of(nameof(Annotation.AnnotationAppOptions.ImagesRoot)));
    }

    [Fact]
    public async Task TrainPrintsTheFlagTheUserTypedAndKeepsConfigPrecedence()
    {
        using var dir = TestPaths.TempDir();
        var (code, _, stderr) = await CliHarness.RunAsync("train", "--model", dir.Path, "--data", "d.json", "--out", dir.File("o"), "--batch-size", "x");
        Assert.Equal(2, code);
        Assert.Contains("--batch-size: 'x' is not a whole number", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await CliHarness.RunAsync("train", "--model", dir.Path, "--data", "d.json", "--out", dir.File("o"), "--device", "gpu");
        Assert.Equal(2, code);
        Assert.Contains("--device: must be cpu or cuda[:N] (got 'gpu')", stderr, StringComparison.Ordinal);

        // The file sets a bad value, the command line overrides it: no error from the file's value.
        File.WriteAllText(dir.File("c.json"), """{"model": ".", "data": "d.json", "out": "o", "epochs": 0, "loss": "bt"}""");
        (code, _, stderr) = await CliHarness.RunAsync("train", "--config", dir.File("c.json"), "--epochs", "1", "--loss", "nope");
        Assert.Equal(2, code);
        Assert.Contains("--loss: unknown value 'nope'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("--epochs", stderr, StringComparison.Ordinal);

        File.WriteAllText(dir.File("typo.json"), """{"epochs": "two"}""");
        (code, _, stderr) = await CliHarness.RunAsync("train", "--config", dir.File("typo.json"));
        Assert.Equal(2, code);
        Assert.Contains("--epochs: 'two' is not a whole number (in ", stderr, StringComparison.Ordinal);
    }
}
