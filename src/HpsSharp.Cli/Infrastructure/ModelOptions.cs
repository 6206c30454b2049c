using System.CommandLine;
using HpsSharp.Core;
using HpsSharp.Core.Scoring;

namespace HpsSharp.Cli.Infrastructure;

/// <summary>
/// The options every scoring command shares (<c>--model</c>, <c>--dtype</c>, <c>--device</c>, <c>--batch-size</c>):
/// declared once so their names, defaults and validation are the same everywhere.
/// </summary>
public sealed class ModelOptions
{
    public Option<string> Model { get; }

    public Option<Precision> Dtype { get; } = SpelledOptions.Dtype("bf16 (as released, default) or fp32 (exact mode)");

    public Option<DeviceSpec> Device { get; } = SpelledOptions.Device("cpu, cuda or cuda:N (CUDA needs a build with a CUDA libtorch)");

    public Option<int> BatchSize { get; } = new("--batch-size") { Description = "Images per forward pass (0 = as many as fit in the GPU's free memory; 4 on the CPU)", DefaultValueFactory = _ => 4 };

    public Option<bool> Deterministic { get; } = new("--deterministic")
    {
        Description = "One image per forward pass, so a score never depends on which other images share its batch (bit-identical alone or batched; slower)",
    };

    /// <summary>Which scorer the folder holds (registry name).</summary>
    public Option<string> Scorer { get; } = new("--scorer") { Description = "hpsv3 (default), pickscore, hpsv2, hpsv2.1, imagereward, clipscore or aesthetic; the baselines run in fp32 on the CPU", DefaultValueFactory = _ => "hpsv3" };

    /// <summary>Folder holding the CLIP vocabulary when the model folder lacks it.</summary>
    public Option<string?> TokenizerDir { get; } = new("--tokenizer") { Description = "Tokenizer folder when the model folder has none: bpe_simple_vocab_16e6.txt.gz (CLIP family) or vocab.txt + added_tokens.json (imagereward)" };

    /// <summary>HPSv2's resize without antialiasing (torchvision ≤ 0.16, the authors' 2023 setup).</summary>
    public Option<bool> NoAntialias { get; } = new("--no-antialias") { Description = "hpsv2/hpsv2.1: resize without antialiasing, as torchvision <= 0.16 did (default: antialias, as a fresh install does)" };

    /// <summary>CLIPScore's caption prefix.</summary>
    public Option<string> CaptionPrefix { get; } = new("--caption-prefix") { Description = "clipscore: text put before each prompt (Hessel's script uses \"A photo depicts \"; default none)", DefaultValueFactory = _ => string.Empty };

    private readonly bool _baselines;

    /// <param name="required">False for commands that can take precomputed scores instead of a model.</param>
    /// <param name="baselines">False for commands that need HPSv3's σ (the service, CoHP): no <c>--scorer</c> then.</param>
    public ModelOptions(bool required = true, bool baselines = true)
    {
        _baselines = baselines;
        Model = new("--model")
        {
            Description = "Model folder (config.json, tokenizer files, HPSv3.safetensors or model.safetensors)" + (required ? string.Empty : "; or use --scores"),
            Required = required,
        };
        Scorer.AcceptOnlyFromAmong([.. HpsSharp.Modeling.Scorers.ScorerRegistry.Names]);
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
        if (_baselines)
        {
            command.Options.Add(Scorer);
            command.Options.Add(TokenizerDir);
            command.Options.Add(NoAntialias);
            command.Options.Add(CaptionPrefix);
        }
    }

    /// <summary>Reads the parsed values.</summary>
    public ScorerOptions Read(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var dir = parse.GetValue(Model)!;
        var scorer = _baselines ? parse.GetValue(Scorer)! : "hpsv3";
        if (!Directory.Exists(dir))
        {
            var download = scorer == HpsSharp.Modeling.Scorers.ScorerRegistry.Default ? "hps model download" : $"hps model download --scorer {scorer}";
            throw new DirectoryNotFoundException($"--model: folder not found: {dir} ('{download}' assembles one)");
        }

        return new ScorerOptions(dir, parse.GetValue(Dtype), parse.GetValue(Device), parse.GetValue(BatchSize), parse.GetValue(Deterministic))
        {
            Scorer = scorer,
            TokenizerDir = parse.GetValue(TokenizerDir),
            Antialias = !parse.GetValue(NoAntialias),
            CaptionPrefix = parse.GetValue(CaptionPrefix) ?? string.Empty,
        };
    }

    /// <summary>Loads the scorer and says on stderr what model it is (plainly, when it is not the released HPSv3).</summary>
    public IScorer Load(ParseResult parse, CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(env);
        return Load(Read(parse), env);
    }

    /// <summary>Loads the scorer <paramref name="options"/> describe and says on stderr what model it is.</summary>
    public static IScorer Load(ScorerOptions options, CliEnvironment env)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(env);
        var scorer = env.ScorerLoader(options);

        // The loader ran it one item per forward; saying so in Model keys the score cache and the protocol on it.
        if (options.Deterministic && !scorer.Model.Deterministic)
        {
            scorer = new DeterministicScorer(scorer);
        }

        env.Error.WriteLine($"model: {scorer.Model.Describe()}");
        return scorer;
    }
}
