using System.CommandLine;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// The options every scoring command shares (<c>--model</c>, <c>--dtype</c>, <c>--device</c>, <c>--batch-size</c>):
/// declared once so their names, defaults and validation are the same everywhere.
/// </summary>
public sealed class ModelOptions
{
    public Option<string> Model { get; }

    public Option<string> Dtype { get; } = new("--dtype") { Description = "bf16 (as released, default) or fp32 (exact mode)", DefaultValueFactory = _ => "bf16" };

    public Option<string> Device { get; } = new("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };

    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Images per forward pass (0 = as many as fit in the GPU's free memory; 4 on the CPU)", DefaultValueFactory = _ => 4 };

    public Option<bool> Deterministic { get; } = new("--deterministic")
    {
        Description = "One image per forward pass, so a score never depends on which other images share its batch (bit-identical alone or batched; slower)",
    };

    /// <param name="required">False for commands that can take precomputed scores instead of a model.</param>
    public ModelOptions(bool required = true)
    {
        Model = new("--model")
        {
            Description = "Model folder (config.json, tokenizer files, HPSv3.safetensors or model.safetensors)" + (required ? string.Empty : "; or use --scores"),
            Required = required,
        };
        Dtype.AcceptOnlyFromAmong("bf16", "fp32");
        Device.AcceptOnlyFromAmong("cpu", "cuda");
        BatchSize.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
            {
                r.AddError("--batch-size must be at least 1, or 0 for automatic");
            }
        });
    }

    /// <summary>Adds the options to a command.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Model);
        command.Options.Add(Dtype);
        command.Options.Add(Device);
        command.Options.Add(BatchSize);
        command.Options.Add(Deterministic);
    }

    /// <summary>Reads the parsed values.</summary>
    public ScorerOptions Read(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var dir = parse.GetValue(Model)!;
        if (!Directory.Exists(dir))
        {
            throw new DirectoryNotFoundException($"--model: folder not found: {dir}");
        }

        return new ScorerOptions(dir, parse.GetValue(Dtype)!, parse.GetValue(Device)!, parse.GetValue(BatchSize), parse.GetValue(Deterministic));
    }

    /// <summary>Loads the scorer and says on stderr what model it is (plainly, when it is not the released HPSv3).</summary>
    public IScorer Load(ParseResult parse, CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var scorer = env.ScorerLoader(Read(parse));
        env.Error.WriteLine($"model: {scorer.Model.Describe()}");
        return scorer;
    }
}
