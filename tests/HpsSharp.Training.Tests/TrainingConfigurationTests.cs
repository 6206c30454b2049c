using System.Text.Json;
using HpsSharp.Core;
using HpsSharp.Testing;
using HpsSharp.Training.Data;
using HpsSharp.Training.Losses;
using HpsSharp.Training.Optim;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace HpsSharp.Training.Tests;

/// <summary>Training options bound through Microsoft.Extensions.Configuration, and the option enums' one spelling.</summary>
[Trait("Category", "Unit")]
public sealed class TrainingConfigurationTests
{
    private static TrainingOptions Bind(params (string Key, string? Value)[] values) =>
        TrainingOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build());

    [Fact]
    public void CommandLineOverridesTheFileWhichOverridesTheDefaults()
    {
        using var dir = TestPaths.TempDir();
        File.WriteAllText(dir.File("c.json"), """{"model": "m", "data": "d.json", "lr": 1e-5, "batch-size": 3, "loss": "btt", "dtype": "fp32", "device": "cuda:1", "confidence-threshold": null}""");
        var o = TrainingOptions.FromConfiguration(new ConfigurationBuilder()
            .AddTrainingJsonFile(dir.File("c.json"))
            .AddCommandLine(["--batch-size=5", "--schedule=cosine", "--format=jsonl"])
            .Build());
        Assert.Equal(5, o.BatchSize); // command line over file
        Assert.Equal(1e-5, o.LearningRate); // file over default
        Assert.Equal(4, o.GradAccum); // default
        Assert.Equal(LossKind.BradleyTerryWithTies, o.Loss);
        Assert.Equal(ScheduleKind.Cosine, o.Schedule);
        Assert.Equal(PairFormat.Jsonl, o.Format);
        Assert.Equal(Precision.Fp32, o.Dtype);
        Assert.Equal(new DeviceSpec(ComputeDevice.Cuda, 1), o.Device);
        Assert.Null(o.ConfidenceThreshold); // an explicit null clears a non-null default
        Assert.Equal(Path.Combine(dir.Path, "m"), o.Model); // paths in a file are relative to the file
        Assert.Equal(Path.Combine(dir.Path, "d.json"), o.Data);
    }

    [Fact]
    public void UnknownKeysAndMistypedValuesNameTheKeyOrField()
    {
        var unknown = Assert.Throws<UserInputException>(() => Bind(("learning-rate", "1e-5")));
        Assert.Contains("unknown key 'learning-rate'", unknown.Message, StringComparison.Ordinal);

        var notNumber = Assert.Throws<UserInputException>(() => Bind(("batch-size", "x")));
        Assert.Equal((nameof(TrainingOptions.BatchSize), "BatchSize: 'x' is not a whole number"), (notNumber.Field, notNumber.Message));

        var loss = Assert.Throws<UserInputException>(() => Bind(("loss", "mse")));
        Assert.Equal(nameof(TrainingOptions.Loss), loss.Field);
        Assert.Contains("expected uncertainty, uncertainty-mc, bt, btt, margin or hpsv2", loss.Message, StringComparison.Ordinal);

        Assert.Equal(nameof(TrainingOptions.Device), Assert.Throws<UserInputException>(() => Bind(("device", "gpu"))).Field);
        Assert.Equal(nameof(TrainingOptions.Dtype), Assert.Throws<UserInputException>(() => Bind(("dtype", "fp16"))).Field);
        Assert.Equal(nameof(TrainingOptions.Epochs), Assert.Throws<UserInputException>(() => Bind(("epochs", null))).Field);
    }

    [Fact]
    public void EveryPropertyHasOneKeyAndTheJsonNameAgrees()
    {
        // run.json (System.Text.Json) and configuration files use the same names.
        var json = JsonSerializer.SerializeToNode(new TrainingOptions(), TrainingOptions.JsonOptions)!.AsObject();
        Assert.Equal(json.Select(kv => kv.Key).Order(StringComparer.Ordinal), TrainingOptions.KeyOfField.Values.Order(StringComparer.Ordinal));
        Assert.Equal("uncertainty", json["loss"]!.GetValue<string>());
        Assert.Equal("constant_with_warmup", json["schedule"]!.GetValue<string>());
        Assert.Equal("bf16", json["dtype"]!.GetValue<string>());
        Assert.Equal("cpu", json["device"]!.GetValue<string>());
        Assert.Equal("hpdv3", json["format"]!.GetValue<string>());
        Assert.Equal("keep", json["null-confidence"]!.GetValue<string>());

        var o = new TrainingOptions { Loss = LossKind.UncertaintyMonteCarlo, Device = new DeviceSpec(ComputeDevice.Cuda, 2), Dtype = Precision.Fp32 };
        Assert.Equal(o, JsonSerializer.Deserialize<TrainingOptions>(o.ToJson(), TrainingOptions.JsonOptions));
    }

    [Theory]
    [InlineData("cpu", ComputeDevice.Cpu, null)]
    [InlineData("cuda", ComputeDevice.Cuda, null)]
    [InlineData("CUDA:3", ComputeDevice.Cuda, 3)]
    public void DevicesParseAndPrintAsLibtorchSpellsThem(string text, ComputeDevice kind, int? index)
    {
        var d = DeviceSpec.Parse(text);
        Assert.Equal(new DeviceSpec(kind, index), d);
        Assert.Equal(text.ToLowerInvariant(), d.ToString());
        Assert.False(DeviceSpec.TryParse("cuda:-1", out _));
        Assert.False(DeviceSpec.TryParse("gpu", out _));
    }

    [Fact]
    public void EachEnumHasOneSpellingBothWays()
    {
        foreach (var kind in Enum.GetValues<LossKind>())
        {
            Assert.Equal(kind, PairLoss.Parse(PairLoss.Name(kind)));
        }

        Assert.Equal(["uncertainty", "uncertainty-mc", "bt", "btt", "margin", "hpsv2"], PairLoss.Spelling.Names);
        Assert.Equal(["constant_with_warmup", "cosine", "constant"], LrSchedule.Spelling.Names);
        Assert.Equal(["bf16", "fp32"], Precisions.Spelling.Names);
        Assert.Equal(["hpdv3", "jsonl"], PairSpellings.Format.Names);
        Assert.Equal(["keep", "drop", "error"], PairSpellings.NullConfidence.Names);
        Assert.Equal(Precision.Bf16, Precisions.Parse("bfloat16"));
        Assert.Equal(LossKind.ConstantMargin, PairLoss.Parse("constant_margin"));
        Assert.Equal("Dtype: unknown value 'fp16' (expected bf16 or fp32)", Assert.Throws<UserInputException>(() => Precisions.Parse("fp16")).Message);
    }

    [Fact]
    public void OptionErrorsRenderFieldsUnderAFrontEndsNames()
    {
        var ex = Assert.Throws<UserInputException>(() => (new TrainingOptions { Model = "m", Data = "d", Out = "o", Resume = true, Overwrite = true }).Validate());
        Assert.Equal("Overwrite: Resume continues the run in Out and Overwrite removes it: give one of them", ex.Message);
        Assert.Equal("--overwrite: --resume continues the run in --out and --overwrite removes it: give one of them", ex.Describe(f => "--" + TrainingOptions.KeyOfField[f]));
    }
}
