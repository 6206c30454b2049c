using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling;
using HpsSharp.Modeling.Lora;
using HpsSharp.Training.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Training.Hpsv3;

/// <summary>
/// <see cref="Hpsv3Model"/> as the trainer sees it. Saving writes a complete model folder: <c>model.safetensors</c>
/// in the official flat HPSv3 key layout (the backbone in the model's dtype, <c>rm_head</c> F32, and
/// <c>lm_head.weight</c>, which the reward model never uses, copied unchanged from the input checkpoint so that
/// Python HPSv3's <c>load_state_dict(strict=True)</c> finds every key), <c>config.json</c> and the tokenizer and
/// processor files of the input folder.
/// </summary>
public sealed class Hpsv3Trainable : ITrainableModel<Hpsv3Batch>
{
    /// <summary>Small files of a model folder copied into every saved folder when present.</summary>
    public static readonly IReadOnlyList<string> FolderFiles =
    [
        "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
        "added_tokens.json", "preprocessor_config.json", "chat_template.json", "generation_config.json",
    ];

    private readonly string _sourceDir;
    private readonly string? _tokenizerDir;

    private Hpsv3Trainable(Hpsv3Model model, string sourceDir, string? tokenizerDir)
    {
        Model = model;
        _sourceDir = sourceDir;
        _tokenizerDir = tokenizerDir;
    }

    public Hpsv3Model Model { get; }

    public nn.Module Module => Model;

    public IReadOnlyList<long> RewardRows { get; } = new long[] { Hpsv3Layout.RewardTokenId };

    /// <summary>
    /// Opens the model to train: the weights of <paramref name="modelDir"/>, or, with <paramref name="randomInit"/>,
    /// fresh weights (seeded) built from its <c>config.json</c>.
    /// </summary>
    public static Hpsv3Trainable Open(string modelDir, Precision dtype, DeviceSpec device, bool randomInit, long seed, string? tokenizerDir = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        if (!Directory.Exists(modelDir))
        {
            throw UserInputException.ForOption(nameof(TrainingOptions.Model), $"model folder '{modelDir}' does not exist");
        }

        var options = new ModelLoadOptions(dtype, device, RequiresGrad: true);
        Hpsv3Model model;
        if (randomInit)
        {
            var cfgPath = Path.Combine(modelDir, "config.json");
            if (!File.Exists(cfgPath))
            {
                throw UserInputException.ForOption(nameof(TrainingOptions.Model), $"'{modelDir}' has no config.json to build a random model from");
            }

            model = Hpsv3Model.Create(Qwen2VLConfig.Load(cfgPath), options, seed);
        }
        else
        {
            model = Hpsv3Model.Load(modelDir, options);
        }

        return new Hpsv3Trainable(model, Path.GetFullPath(modelDir), tokenizerDir);
    }

    /// <summary>
    /// Opens the model an <c>hps train</c> run describes: <see cref="TrainingOptions.Model"/> (or random weights), the
    /// dtype and device, and the head dropout.
    /// </summary>
    public static Hpsv3Trainable Open(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        // Freed activations go back to the system instead of staying in glibc's heap (about half the anonymous peak
        // of a 7B-width LoRA step with checkpointing, and the part that grew with depth).
        HostMemory.ReturnFreedTensorMemory();
        var t = Open(options.Model!, options.Dtype, options.Device, options.RandomInit, options.Seed, options.Tokenizer);
        try
        {
            t.Model.HeadDropout = options.HeadDropout;
            t.Model.GradientCheckpointing = options.GradientCheckpointing;
            if (options.Lora)
            {
                if (t.Model.Lora is not null)
                {
                    throw UserInputException.ForOption(nameof(TrainingOptions.Model), $"'{options.Model}' is a LoRA adapter folder: merge it first (hps model merge-lora) to train a new adapter on it");
                }

                var targets = t.Model.ResolveLoraTargets(options.LoraTargets);
                t.Model.AttachLora(new LoraSettings(options.LoraR, options.LoraAlpha, options.LoraDropout, targets), options.Seed);

                // Only the <|Reward|> row is trained: a sparse gradient of that row instead of the whole vocabulary's.
                t.Model.SparseEmbeddingGradientRows = [.. t.RewardRows];
            }

            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    public Tensor Forward(Hpsv3Batch batch) => Model.forward(batch);

    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        if (Model.Lora is not null)
        {
            // A LoRA run saves only what it trained, as a PEFT adapter over the input folder.
            PeftAdapter.Write(folder, Model, _sourceDir, RewardRows);
        }
        else
        {
            WriteWeights(Path.Combine(folder, "model.safetensors"));
        }

        foreach (var f in FolderFiles)
        {
            var src = Path.Combine(_sourceDir, f);
            if (!File.Exists(src) && _tokenizerDir is not null && f != "config.json")
            {
                src = Path.Combine(_tokenizerDir, f);
            }

            if (File.Exists(src) && Path.GetFullPath(src) != Path.GetFullPath(Path.Combine(folder, f)))
            {
                AtomicFile.Copy(src, Path.Combine(folder, f));
            }
        }
    }

    /// <summary>Writes the state dict in the official flat layout (atomically).</summary>
    public void WriteWeights(string path) => WriteCheckpoint(Model, _sourceDir, path);

    /// <summary>
    /// Writes <paramref name="model"/>'s weights in the official flat layout (atomically), each tensor in its
    /// parameter's dtype, with <c>lm_head.weight</c> copied from the checkpoint in <paramref name="sourceDir"/> (zeros
    /// when it has none). LoRA parameters are never written: merge them first.
    /// </summary>
    public static void WriteCheckpoint(Hpsv3Model model, string sourceDir, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Lora is not null && !model.LoraMerged)
        {
            throw new InvalidOperationException("unmerged LoRA adapters cannot be written as a full checkpoint");
        }

        // Module order, as the model's own table lists it (the order a Python state dict is saved in).
        var parameters = model.named_parameters().Where(p => !PeftAdapter.IsLoraParameter(p.name)).ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        var order = Hpsv3Model.ParameterTable(model.Config).Select(t => t.Name).Where(parameters.ContainsKey).ToList();
        order.AddRange(parameters.Keys.Where(k => !order.Contains(k)).Order(StringComparer.Ordinal));

        // lm_head: unused by the reward model, required by a strict load. Copied from the input when it has one.
        var embed = parameters[Training.Optim.ParameterGroups.EmbeddingName];
        var lmShape = embed.shape;
        var backbone = ToSafetensors(embed.dtype);
        SafetensorsModel? source = null;
        TensorInfo? lm = null;
        try
        {
            if (SafetensorsModel.FindWeights(sourceDir) is not null)
            {
                source = SafetensorsModel.Open(sourceDir);
                lm = source.Tensors.FirstOrDefault(t => Hpsv3Layout.Normalize(t.Name) == "lm_head.weight" && t.Shape.SequenceEqual(lmShape));
            }

            var headers = order.Select(n => new SafetensorsWriter.Header(n, ToSafetensors(parameters[n].dtype), parameters[n].shape)).ToList();
            headers.Add(new SafetensorsWriter.Header("lm_head.weight", lm?.Dtype ?? backbone, lmShape));
            var meta = new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "hpssharp train" };
            SafetensorsWriter.WriteStreaming(path, headers, (i, stream) =>
            {
                if (i < order.Count)
                {
                    using var c = parameters[order[i]].detach().cpu().contiguous();
                    stream.Write(c.bytes);
                }
                else if (lm is not null)
                {
                    CopyRaw(source!.FileOf(lm.Name), lm, stream);
                }
                else
                {
                    // A model built from random weights has no lm_head: write zeros (never read by the reward model).
                    var zero = new byte[1 << 20];
                    long left = headers[i].ByteLength;
                    while (left > 0)
                    {
                        int n = (int)Math.Min(left, zero.Length);
                        stream.Write(zero, 0, n);
                        left -= n;
                    }
                }
            }, meta);
        }
        finally
        {
            source?.Dispose();
        }
    }

    public void LoadWeights(string folder)
    {
        if (Model.Lora is not null)
        {
            var adapter = PeftAdapter.Read(folder);
            if (adapter.Settings.R != Model.Lora.R || !adapter.Settings.TargetModules.SequenceEqual(Model.Lora.TargetModules))
            {
                throw new UserInputException(folder, "the checkpoint's adapter has another rank or other target modules than this run (resume with the same LoRA options)");
            }

            adapter.Apply(Model);
            return;
        }

        var path = Path.Combine(folder, "model.safetensors");
        using var f = SafetensorsFile.Open(path);
        using var noGrad = no_grad();
        foreach (var (name, p) in Model.named_parameters())
        {
            if (!f.Contains(name))
            {
                throw new SafetensorsException(path, $"checkpoint lacks '{name}'");
            }

            var info = f[name];
            if (info.Dtype != ToSafetensors(p.dtype) || !info.Shape.SequenceEqual(p.shape))
            {
                throw new SafetensorsException(path, $"'{name}' is {info.Describe()}, the model has {ToSafetensors(p.dtype)} [{string.Join(", ", p.shape)}] (resume with the same dtype)");
            }

            using var t = empty(p.shape, p.dtype);
            t.bytes = f.ReadBytes(name);
            p.copy_(t);
        }
    }

    private static void CopyRaw(SafetensorsFile file, TensorInfo info, Stream destination)
    {
        using var src = new FileStream(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        src.Position = file.DataOffset + info.Begin;
        var buffer = new byte[1 << 20];
        long left = info.ByteLength;
        while (left > 0)
        {
            int n = src.Read(buffer, 0, (int)Math.Min(left, buffer.Length));
            if (n <= 0)
            {
                throw new SafetensorsException(file.Path, $"'{info.Name}' is truncated");
            }

            destination.Write(buffer, 0, n);
            left -= n;
        }
    }

    private static SafetensorsDtype ToSafetensors(ScalarType t) => t switch
    {
        ScalarType.BFloat16 => SafetensorsDtype.BF16,
        ScalarType.Float32 => SafetensorsDtype.F32,
        ScalarType.Float16 => SafetensorsDtype.F16,
        ScalarType.Float64 => SafetensorsDtype.F64,
        _ => throw new NotSupportedException($"cannot save a {t} parameter"),
    };

    public void Dispose() => Model.Dispose();
}
