using HpsSharp.Core;
using HpsSharp.Core.Checkpoints;
using HpsSharp.Core.Scoring;
using HpsSharp.Core.Text.Clip;
using HpsSharp.Modeling.Clip;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Scorers;

/// <summary>Settings a baseline scorer may take; each scorer reads only its own.</summary>
/// <param name="ModelDir">The scorer's folder, laid out as its hub repository (see <see cref="ScorerRegistry"/>).</param>
/// <param name="TokenizerDir">Where the tokenizer files are when the model folder lacks them.</param>
/// <param name="Hpsv2Antialias">HPSv2: antialiased resize (torchvision ≥ 0.17, default) or not (the authors' 2023 setup).</param>
/// <param name="ClipScorePrefix">CLIPScore: text put before each prompt (Hessel's script: "A photo depicts ").</param>
public sealed record BaselineScorerOptions(string ModelDir, string? TokenizerDir = null, bool Hpsv2Antialias = true, string ClipScorePrefix = "");

/// <summary>One entry of the registry: name, what it is, where its weights live, which files its folder holds.</summary>
public sealed record ScorerDescriptor(string Name, string Title, string HubRepository, IReadOnlyList<string> Files, string ScoreMeaning)
{
    /// <summary>The baseline loader (the folder is known to exist); null for <c>hpsv3</c>, which has its own.</summary>
    internal Func<ScorerDescriptor, BaselineScorerOptions, ClipFamilyScorer>? Load { get; init; }
}

/// <summary>
/// The scorer registry (ARCHITECTURE.md "Growing the house"): name → descriptor and loader. <c>hpsv3</c> is loaded
/// by its own loader (<see cref="HpsScorer"/>); the baselines here. Model folders: <c>pickscore</c>/<c>clipscore</c> —
/// <c>config.json</c> + <c>model.safetensors</c>; <c>hpsv2</c>/<c>hpsv2.1</c> — <c>HPS_v2_compressed.pt</c> /
/// <c>HPS_v2.1_compressed.pt</c> (+ optional <c>open_clip_config.json</c>, else ViT-H-14); <c>aesthetic</c> —
/// <c>sac+logos+ava1-l14-linearMSE.pth</c> beside <c>clip/</c> (CLIP ViT-L/14 in HF layout). The CLIP family also
/// needs <c>bpe_simple_vocab_16e6.txt.gz</c> in the folder or the tokenizer folder.
/// </summary>
public static class ScorerRegistry
{
    /// <summary>The default scorer.</summary>
    public const string Default = "hpsv3";

    /// <summary>The option field that chooses a scorer, named in errors.</summary>
    public const string ScorerField = "Scorer";

    /// <summary>Every scorer, in the order the help lists them.</summary>
    public static IReadOnlyList<ScorerDescriptor> All { get; } =
    [
        new("hpsv3", "HPSv3", "MizzenAI/HPSv3", ["config.json", "model.safetensors"], "μ of the reward head (with σ)"),
        new("pickscore", "PickScore", "yuvalkirstain/PickScore_v1", ["config.json", "model.safetensors"], "exp(logit_scale)·cos") { Load = (_, o) => LoadPickScore(o) },
        new("hpsv2", "HPSv2.0", "xswu/HPSv2", ["HPS_v2_compressed.pt"], "cos(image, text)") { Load = LoadHpsv2 },
        new("hpsv2.1", "HPSv2.1", "xswu/HPSv2", ["HPS_v2.1_compressed.pt"], "cos(image, text)") { Load = LoadHpsv2 },
        new("imagereward", "ImageReward", "THUDM/ImageReward", ["ImageReward.pt", "med_config.json"], "standardised reward") { Load = (_, o) => LoadImageReward(o) },
        new("clipscore", "CLIPScore (ViT-L/14)", "openai/clip-vit-large-patch14", ["config.json", "model.safetensors"], "2.5·max(cos, 0)") { Load = (_, o) => LoadClipScore(o) },
        new("aesthetic", "LAION aesthetic predictor v2", "christophschuhmann/improved-aesthetic-predictor", ["sac+logos+ava1-l14-linearMSE.pth", "clip/config.json", "clip/model.safetensors"], "MLP(CLIP image embedding), about 1–10") { Load = (_, o) => LoadAesthetic(o) },
    ];

    /// <summary>The registry names.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(d => d.Name).ToList();

    /// <summary>The descriptor of <paramref name="name"/> (case-insensitive), or a user error listing the names.</summary>
    public static ScorerDescriptor Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw UserInputException.ForOption(ScorerField, $"unknown scorer '{name}' (one of: {string.Join(", ", Names)})");
    }

    /// <summary>Loads a baseline scorer (not <c>hpsv3</c>) in fp32 on the CPU.</summary>
    public static ClipFamilyScorer LoadBaseline(string name, BaselineScorerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var d = Find(name);
        if (!Directory.Exists(options.ModelDir))
        {
            throw new UserInputException(options.ModelDir, $"model folder not found (the {d.Title} folder holds {string.Join(", ", d.Files)})");
        }

        return d.Load is { } load
            ? load(d, options)
            : throw UserInputException.ForOption(ScorerField, $"'{d.Name}' is not a baseline scorer; load it with its own loader");
    }

    private static PickScoreScorer LoadPickScore(BaselineScorerOptions o)
    {
        var (config, weights) = HfFiles(o.ModelDir);
        var tokenizer = Tokenizer(o);
        var model = ClipModel.LoadHuggingFace(weights, ClipConfig.FromHuggingFace(config));
        return new PickScoreScorer(model, tokenizer, Info("pickscore", "PickScore", o.ModelDir, [config, weights], ""));
    }

    private static ClipScoreScorer LoadClipScore(BaselineScorerOptions o)
    {
        var (config, weights) = HfFiles(o.ModelDir);
        var tokenizer = Tokenizer(o);
        var model = ClipModel.LoadHuggingFace(weights, ClipConfig.FromHuggingFace(config));
        return new ClipScoreScorer(model, tokenizer, Info("clipscore", "CLIPScore", o.ModelDir, [config, weights], $"prefix={o.ClipScorePrefix}"), o.ClipScorePrefix);
    }

    private static Hpsv2Scorer LoadHpsv2(ScorerDescriptor d, BaselineScorerOptions o)
    {
        var file = Path.Combine(o.ModelDir, d.Files[0]);
        if (!File.Exists(file))
        {
            throw new UserInputException(o.ModelDir, $"{d.Files[0]} not found ({d.Title}'s checkpoint from {d.HubRepository})");
        }

        var cfgPath = Path.Combine(o.ModelDir, "open_clip_config.json");
        var config = File.Exists(cfgPath) ? ClipConfig.FromOpenClip(cfgPath) : ClipConfig.VitH14OpenClip;
        var tokenizer = Tokenizer(o);
        var model = ClipModel.LoadOpenClip(file, config);
        return new Hpsv2Scorer(model, tokenizer, Info(d.Name, d.Title, o.ModelDir, [file], $"antialias={o.Hpsv2Antialias}"), o.Hpsv2Antialias);
    }

    private static AestheticScorer LoadAesthetic(BaselineScorerOptions o)
    {
        var pth = Path.Combine(o.ModelDir, "sac+logos+ava1-l14-linearMSE.pth");
        if (!File.Exists(pth))
        {
            throw new UserInputException(o.ModelDir, "sac+logos+ava1-l14-linearMSE.pth not found (the predictor's MLP from christophschuhmann/improved-aesthetic-predictor)");
        }

        var (config, weights) = HfFiles(Path.Combine(o.ModelDir, "clip"));
        using var scope = NewDisposeScope();
        AestheticMlp mlp;
        using (var ckpt = TorchCheckpoint.Open(pth))
        {
            var table = TorchCheckpointTensors.Load(ckpt, null, ScalarType.Float32);
            var widths = AestheticMlp.LinearIndices.Select(i => table.TryGetValue($"layers.{i}.weight", out var w) && w.dim() == 2
                ? (w.shape[1], w.shape[0])
                : throw new UserInputException(pth, $"no 2-d tensor 'layers.{i}.weight': not the aesthetic predictor's MLP")).ToList();
            var source = new DictionaryWeightSource(table, ScalarType.Float32, pth);
            mlp = new AestheticMlp(widths, source);
            if (source.Unused.FirstOrDefault() is { } extra)
            {
                throw new UserInputException(pth, $"unexpected tensor '{extra}': not the aesthetic predictor's MLP");
            }

            foreach (var p in mlp.parameters())
            {
                p.DetachFromDisposeScope();
            }
        }

        var clip = ClipModel.LoadHuggingFace(weights, ClipConfig.FromHuggingFace(config), withText: false);
        if (clip.Config.ProjectionDim != mlp.parameters().First().shape[1])
        {
            throw new UserInputException(pth, $"the MLP takes {mlp.parameters().First().shape[1]}-d embeddings but the CLIP in clip/ gives {clip.Config.ProjectionDim}-d");
        }

        return new AestheticScorer(clip, mlp, Info("aesthetic", "LAION aesthetic predictor v2", o.ModelDir, [pth, weights], ""));
    }

    private static ImageRewardScorer LoadImageReward(BaselineScorerOptions o)
    {
        var pt = Path.Combine(o.ModelDir, "ImageReward.pt");
        var med = Path.Combine(o.ModelDir, "med_config.json");
        foreach (var f in new[] { pt, med })
        {
            if (!File.Exists(f))
            {
                throw new UserInputException(o.ModelDir, $"{Path.GetFileName(f)} not found (ImageReward's folder holds ImageReward.pt and med_config.json from THUDM/ImageReward)");
            }
        }

        var visionPath = Path.Combine(o.ModelDir, "vision_config.json");
        var vision = File.Exists(visionPath) ? Blip.BlipVisionConfig.Load(visionPath) : Blip.BlipVisionConfig.Large;
        var text = Blip.BertConfig.Load(med);
        var tokDir = new[] { o.ModelDir, o.TokenizerDir }.FirstOrDefault(d => d is not null && File.Exists(Path.Combine(d, "vocab.txt")))
            ?? throw new UserInputException(o.ModelDir, $"vocab.txt not found in the model folder{(o.TokenizerDir is null ? string.Empty : " or " + o.TokenizerDir)} (bert-base-uncased's vocabulary + added_tokens.json)");
        var tokenizer = Core.Text.Bert.BertTokenizer.Load(tokDir);
        using var scope = NewDisposeScope();
        using var ckpt = TorchCheckpoint.Open(pt);
        var table = TorchCheckpointTensors.Load(ckpt, null, ScalarType.Float32);
        var widths = AestheticMlp.LinearIndices.Select(i => table.TryGetValue($"mlp.layers.{i}.weight", out var w) && w.dim() == 2
            ? (w.shape[1], w.shape[0])
            : throw new UserInputException(pt, $"no 2-d tensor 'mlp.layers.{i}.weight': not an ImageReward checkpoint")).ToList();
        var source = new DictionaryWeightSource(table, ScalarType.Float32, pt);
        var visual = new Blip.BlipVisionTransformer("blip.visual_encoder", vision, source);
        var encoder = new Blip.BertTextEncoder("blip.text_encoder", text, vision.Width, source);
        var mlp = new AestheticMlp(widths, source, "mlp.layers");
        // The official loader is strict=False; only the unused projections and the position_ids buffer may be left over here.
        var extra = source.Unused.Where(n => !n.StartsWith("blip.vision_proj.", StringComparison.Ordinal) && !n.StartsWith("blip.text_proj.", StringComparison.Ordinal) && !n.EndsWith(".position_ids", StringComparison.Ordinal)).ToList();
        if (extra.Count > 0)
        {
            throw new UserInputException(pt, $"{extra.Count} unexpected tensor(s), e.g. '{extra[0]}' (configs do not match the checkpoint?)");
        }

        foreach (var m in new TorchSharp.torch.nn.Module[] { visual, encoder, mlp })
        {
            foreach (var p in m.parameters())
            {
                p.DetachFromDisposeScope();
            }
        }

        return new ImageRewardScorer(visual, encoder, mlp, tokenizer, vision.ImageSize, Info("imagereward", "ImageReward", o.ModelDir, [pt, med], ""));
    }

    private static (string Config, string Weights) HfFiles(string dir)
    {
        var config = Path.Combine(dir, "config.json");
        var weights = Path.Combine(dir, "model.safetensors");
        foreach (var f in new[] { config, weights })
        {
            if (!File.Exists(f))
            {
                throw new UserInputException(dir, $"{Path.GetFileName(f)} not found (a CLIP model folder holds config.json and model.safetensors)");
            }
        }

        return (config, weights);
    }

    private static ClipTokenizer Tokenizer(BaselineScorerOptions o)
    {
        var candidates = new[] { o.ModelDir, o.TokenizerDir }.Where(d => d is not null).Select(d => Path.Combine(d!, ClipTokenizer.VocabFileName)).ToList();
        var found = candidates.FirstOrDefault(File.Exists)
            ?? throw new UserInputException(o.ModelDir, $"{ClipTokenizer.VocabFileName} not found in the model folder{(o.TokenizerDir is null ? string.Empty : " or " + o.TokenizerDir)} (the CLIP vocabulary)");
        return ClipTokenizer.Load(found);
    }

    private static ModelInfo Info(string scorer, string title, string dir, IEnumerable<string> files, string settings) =>
        new($"{title} ({Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)))})", ClipFamilyScorer.Fingerprint(scorer, files, settings), false, Precision.Fp32.Name(), 0, 0) { Scorer = scorer };
}
