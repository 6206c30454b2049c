using HpsSharp.Core;
using HpsSharp.Core.Safetensors;
using HpsSharp.Modeling.Language;
using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Lora;
using HpsSharp.Modeling.Vision;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace HpsSharp.Modeling;

// Python counterpart: HPSv3 hpsv3/model/qwen2vl_trainer.py `Qwen2VLRewardModelBT.forward` (d3fc9d7), over
// transformers 4.45.2 `Qwen2VLForConditionalGeneration` (docs/model.md#the-hpsv3-forward).

/// <summary>
/// HPSv3: the Qwen2-VL vision tower and decoder plus the fp32 reward head read at <c>&lt;|Reward|&gt;</c>.
/// Submodules are named like the checkpoint (<c>visual</c>, <c>model</c>, <c>rm_head</c>), so
/// <c>named_parameters()</c> yields the official flat names and a state dict saves in the official layout.
/// </summary>
public sealed class Hpsv3Model : nn.Module<Hpsv3Batch, Tensor>
{
    internal readonly VisionTransformer visual;
    internal readonly Qwen2Model model;
    internal readonly RewardHead rm_head;

    internal Hpsv3Model(Qwen2VLConfig config, WeightSource weights)
        : base("hpsv3")
    {
        Config = config;
        BackboneDtype = weights.BackboneDtype;
        visual = new VisionTransformer("visual", config.VisionConfig, weights);
        model = new Qwen2Model("model", config, weights);
        rm_head = new RewardHead("rm_head", config.HiddenSize, weights);
        RegisterComponents();
    }

    /// <summary>The configuration the model was built from (vocab_size = the checkpoint's embedding rows).</summary>
    public Qwen2VLConfig Config { get; }

    /// <summary>dtype of the backbone parameters and activations (bf16 or fp32); the head is always fp32.</summary>
    public ScalarType BackboneDtype { get; }

    /// <summary>The backbone precision (bf16 or fp32).</summary>
    public Precision Precision => BackboneDtype.ToPrecision();

    /// <summary>
    /// Dropout probability of <c>rm_head</c> in training mode (released: 0.05). 0 makes a training step deterministic,
    /// which gradient-parity checks need.
    /// </summary>
    public double HeadDropout
    {
        get => rm_head.Dropout;
        set
        {
            if (!(value >= 0 && value < 1))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "head dropout must lie in [0, 1)");
            }

            rm_head.Dropout = value;
        }
    }

    /// <summary>
    /// Gradient checkpointing of every decoder layer and vision block while training: activations inside a block are
    /// recomputed in the backward pass instead of kept (same gradients, less memory, one more forward per block).
    /// </summary>
    public bool GradientCheckpointing
    {
        get => model.GradientCheckpointing;
        set
        {
            model.GradientCheckpointing = value;
            visual.GradientCheckpointing = value;
        }
    }

    /// <summary>
    /// Rows of the embedding that are trained, for a sparse embedding gradient (only those rows) instead of a dense
    /// [vocab, hidden] one. Null (default): the dense gradient, as HPSv3's full fine-tune computes it (its gradient
    /// clipping sees every row). LoRA training sets it: the other rows' gradients are never used there.
    /// </summary>
    public long[]? SparseEmbeddingGradientRows
    {
        get => model.embed_tokens.GradientRows;
        set => model.embed_tokens.GradientRows = value;
    }

    /// <summary>The device of the parameters.</summary>
    public Device Device => rm_head.parameters().First().device;

    /// <summary>Weight files the model was loaded from (empty when built from a config).</summary>
    public IReadOnlyList<string> WeightFiles { get; private set; } = [];

    /// <summary>Parameters that are views of the memory-mapped checkpoint (no copy was made).</summary>
    public int ZeroCopyParameters { get; private set; }

    /// <summary>
    /// Loads a model folder (<c>config.json</c> + <c>HPSv3.safetensors</c> | <c>model.safetensors</c> | a shard index)
    /// or a single <c>.safetensors</c> file with <c>config.json</c> beside it. Both key layouts are accepted; the
    /// embedding rows come from the checkpoint; <c>lm_head</c> is ignored; every other mismatch is reported at once.
    /// </summary>
    /// <exception cref="ModelLoadException">missing, unexpected or mismatched tensors.</exception>
    /// <exception cref="UserInputException">no config.json, or a bad option.</exception>
    public static Hpsv3Model Load(string modelDir, ModelLoadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        options ??= new ModelLoadOptions();
        var dtype = options.BackboneDtype;
        var device = options.TorchDevice;
        var folder = Directory.Exists(modelDir) ? modelDir : Path.GetDirectoryName(Path.GetFullPath(modelDir)) ?? ".";
        if (!Directory.Exists(modelDir) && !File.Exists(modelDir))
        {
            throw new UserInputException(modelDir, "model folder not found");
        }

        if (PeftAdapter.IsAdapterFolder(modelDir))
        {
            return LoadWithAdapter(modelDir, options);
        }

        var config = Qwen2VLConfig.Load(Path.Combine(folder, "config.json"));
        using var weights = SafetensorsModel.Open(modelDir);

        // HPSv3 resized the embedding to 151658 rows while the base config.json says 152064: the file decides.
        var embed = weights.Tensors.FirstOrDefault(t => Hpsv3Layout.Normalize(t.Name) == "model.embed_tokens.weight");
        if (embed is { Shape.Length: 2 } && embed.Shape[1] == config.HiddenSize && embed.Shape[0] != config.VocabSize)
        {
            config = config with { VocabSize = checked((int)embed.Shape[0]) };
        }

        // The checkpoint is checked against the model this config builds (on the meta device), before a byte is mapped.
        var check = Hpsv3Layout.Check(weights.Tensors, ParameterTable(config));
        if (!check.Ok)
        {
            string? hint = null;
            if (check.Mismatched.Count > 0 && config.ToDimensions() != Hpsv3Dimensions.Released7B
                && Hpsv3Layout.Check(weights.Tensors, ParameterTable(Qwen2VLConfig.Released7B)).Ok)
            {
                hint = "the checkpoint has the released 7B shapes but config.json describes another size: use the config.json of Qwen/Qwen2-VL-7B-Instruct";
            }

            throw new ModelLoadException(weights.Source, check.Missing, check.Unexpected, check.Mismatched, hint);
        }

        using var source = new MappedWeightSource(weights, check.StoredNames, dtype, device, options.RequiresGrad);
        var result = new Hpsv3Model(config, source)
        {
            WeightFiles = weights.Files.Select(f => f.Path).ToList(),
            ZeroCopyParameters = source.ZeroCopy,
        };
        result.eval();
        return result;
    }

    /// <summary>
    /// A LoRA run folder (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>): the base model named by
    /// <c>base_model_name_or_path</c>, loaded as usual (memory-mapped), with the adapter's layers attached unmerged
    /// and its <c>rm_head</c> and embedding rows copied in.
    /// </summary>
    private static Hpsv3Model LoadWithAdapter(string adapterDir, ModelLoadOptions options)
    {
        var adapter = PeftAdapter.Read(adapterDir);
        if (!Directory.Exists(adapter.BaseModel) && !File.Exists(adapter.BaseModel))
        {
            throw new UserInputException(Path.Combine(adapterDir, PeftAdapter.ConfigFile), $"base model '{adapter.BaseModel}' (base_model_name_or_path) not found");
        }

        if (PeftAdapter.IsAdapterFolder(adapter.BaseModel))
        {
            throw new UserInputException(Path.Combine(adapterDir, PeftAdapter.ConfigFile), $"base model '{adapter.BaseModel}' is itself an adapter; merge it first (hps model merge-lora)");
        }

        var model = Load(adapter.BaseModel, options);
        try
        {
            model.AttachLora(adapter.Settings, seed: 0);
            adapter.Apply(model);
            model.WeightFiles = [.. model.WeightFiles, Path.Combine(adapter.Folder, PeftAdapter.WeightsFile)];
            model.AdapterFolder = adapter.Folder;
            model.BaseModelFolder = adapter.BaseModel;
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The LoRA configuration attached to the model, if any.</summary>
    public LoraSettings? Lora { get; private set; }

    /// <summary>The adapter folder the model was loaded from (null for a plain checkpoint).</summary>
    public string? AdapterFolder { get; private set; }

    /// <summary>The base model folder of an adapter (null for a plain checkpoint).</summary>
    public string? BaseModelFolder { get; private set; }

    /// <summary>Whether the LoRA layers were folded into the weights by <see cref="MergeLora"/>.</summary>
    public bool LoraMerged { get; private set; }

    /// <summary>
    /// Module names of the Linear layers a LoRA target list selects. <paramref name="spec"/> is a comma-separated list
    /// of <c>decoder</c> (q/k/v/o/gate/up/down of every decoder layer), <c>vision</c> (qkv/proj/fc1/fc2 of every vision
    /// block), <c>merger</c> (the merger's two Linears), or module names matched as PEFT does (the full name, or its
    /// last components, e.g. <c>q_proj</c>). <c>rm_head</c> is never a target: it is trained whole.
    /// </summary>
    /// <exception cref="UserInputException">an entry that selects nothing.</exception>
    public IReadOnlyList<string> ResolveLoraTargets(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var linears = named_modules().Where(m => m.module is Linear && !m.name.StartsWith("rm_head.", StringComparison.Ordinal)).Select(m => m.name).ToList();
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            IEnumerable<string> hit = raw switch
            {
                "decoder" => linears.Where(n => n.StartsWith("model.layers.", StringComparison.Ordinal)),
                "vision" => linears.Where(n => n.StartsWith("visual.blocks.", StringComparison.Ordinal)),
                "merger" => linears.Where(n => n.StartsWith("visual.merger.", StringComparison.Ordinal)),
                _ => linears.Where(n => n == raw || n.EndsWith("." + raw, StringComparison.Ordinal)),
            };
            int before = chosen.Count;
            chosen.UnionWith(hit);
            if (chosen.Count == before)
            {
                throw UserInputException.ForOption("LoraTargets", $"'{raw}' selects no Linear layer (use decoder, vision, merger or module names such as q_proj)");
            }
        }

        // In module order, as HPSv3's find_target_linear_names lists them.
        return linears.Where(chosen.Contains).ToList();
    }

    /// <summary>
    /// Attaches LoRA adapters to the Linear layers of <paramref name="settings"/> (names as PEFT matches them: full
    /// name or trailing components). A is drawn from a generator seeded with <paramref name="seed"/>, B is zero.
    /// </summary>
    public void AttachLora(LoraSettings settings, long seed)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (Lora is not null)
        {
            throw new InvalidOperationException("the model already carries LoRA adapters");
        }

        var linears = named_modules().Where(m => m.module is Linear && !m.name.StartsWith("rm_head.", StringComparison.Ordinal)).ToList();
        var targets = linears.Where(m => settings.TargetModules.Any(t => m.name == t || m.name.EndsWith("." + t, StringComparison.Ordinal))).ToList();
        var unmatched = settings.TargetModules.Where(t => !linears.Any(m => m.name == t || m.name.EndsWith("." + t, StringComparison.Ordinal))).ToList();
        if (unmatched.Count > 0 || targets.Count == 0)
        {
            throw new UserInputException("target_modules", $"{unmatched.Count} target modules match no Linear layer of this model, e.g. '{unmatched.FirstOrDefault()}'");
        }

        using var generator = new Generator((ulong)seed, new Device(DeviceType.CPU));
        foreach (var (_, module) in targets)
        {
            ((Linear)module).AttachLora(settings.R, settings.Scaling, settings.Dropout, generator);
        }

        Lora = settings;
    }

    /// <summary>Folds every LoRA adapter into its weight (W ← W + s·B·A); the model then computes without them.</summary>
    public void MergeLora()
    {
        foreach (var (_, module) in named_modules())
        {
            if (module is Linear l)
            {
                l.MergeLora();
            }
        }

        LoraMerged = Lora is not null;
    }

    /// <summary>A model with freshly initialised weights (N(0, 0.02²), biases 0, norms 1) from a seed.</summary>
    public static Hpsv3Model Create(Qwen2VLConfig config, ModelLoadOptions? options = null, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("config");
        options ??= new ModelLoadOptions(Dtype: Precision.Fp32);
        var model = new Hpsv3Model(config, new RandomWeightSource(options.BackboneDtype, options.TorchDevice, seed, 0.02, options.RequiresGrad));
        model.eval();
        return model;
    }

    /// <summary>The model on the <c>meta</c> device: every parameter's name, shape and dtype, no memory.</summary>
    public static Hpsv3Model CreateOnMeta(Qwen2VLConfig config, Precision dtype = Precision.Bf16)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("config");
        return new Hpsv3Model(config, new MetaWeightSource(dtype.ToScalarType()));
    }

    /// <summary>
    /// The parameters of the model <paramref name="config"/> builds, read from that model built on the meta device
    /// (no memory): flat checkpoint names in module order, shapes, and the role (the fp32 <c>rm_head</c> or the
    /// backbone). This is the table the loader checks a checkpoint against, so the module tree is the one
    /// description of the model; the TorchSharp-free <see cref="Hpsv3Layout.ExpectedTensors"/> is tested equal to it.
    /// </summary>
    public static IReadOnlyList<Hpsv3ExpectedTensor> ParameterTable(Qwen2VLConfig config)
    {
        // Built in bf16, the parameters the weight source keeps in fp32 whatever the backbone dtype are the head's.
        using var meta = CreateOnMeta(config, Precision.Bf16);
        return meta.named_parameters().Select(p => new Hpsv3ExpectedTensor(
            p.name,
            p.parameter.shape,
            p.parameter.dtype == ScalarType.Float32 ? Hpsv3TensorRole.RewardHead : Hpsv3TensorRole.Backbone)).ToList();
    }

    /// <summary>
    /// Writes the weights as one safetensors file in the official flat layout that Python HPSv3 loads with
    /// <c>load_state_dict(strict=True)</c> (plus nothing else: no <c>lm_head</c>). The backbone is stored in
    /// <paramref name="backboneDtype"/> (bf16 as released, or fp32); <c>rm_head</c> is always F32. Atomic.
    /// </summary>
    public void SaveSafetensors(string path, Precision backboneDtype = Precision.Bf16, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var backbone = backboneDtype.ToScalarType();
        if (Lora is not null && !LoraMerged)
        {
            throw new InvalidOperationException("the model carries unmerged LoRA adapters: merge them (MergeLora) or save the adapter (PeftAdapter.Write)");
        }

        var parameters = named_parameters().Where(p => !PeftAdapter.IsLoraParameter(p.name)).ToList();
        var headers = parameters.Select(p =>
        {
            var dtype = p.name.StartsWith("rm_head.", StringComparison.Ordinal) ? ScalarType.Float32 : backbone;
            return new SafetensorsWriter.Header(p.name, dtype == ScalarType.BFloat16 ? SafetensorsDtype.BF16 : SafetensorsDtype.F32, p.parameter.shape);
        }).ToList();
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { ["format"] = "pt" };
        SafetensorsWriter.WriteStreaming(path, headers, (i, stream) =>
        {
            var dtype = headers[i].Dtype == SafetensorsDtype.BF16 ? ScalarType.BFloat16 : ScalarType.Float32;
            using var scope = NewDisposeScope();
            var t = parameters[i].parameter.detach().to(dtype).cpu().contiguous();
            stream.Write(t.bytes);
        }, meta);
    }

    /// <summary>
    /// Copies the weights of a checkpoint (file, shard index or folder; either key layout) into this model's
    /// parameters, converting dtypes — for resuming training. Strict: any missing, unexpected or mismatched tensor
    /// (against this model's configuration) throws <see cref="ModelLoadException"/> before anything is copied.
    /// </summary>
    public void LoadWeights(string pathOrFolder)
    {
        ArgumentException.ThrowIfNullOrEmpty(pathOrFolder);
        using var weights = SafetensorsModel.Open(pathOrFolder);
        var check = Hpsv3Layout.Check(weights.Tensors, ParameterTable(Config));
        if (!check.Ok)
        {
            throw new ModelLoadException(weights.Source, check.Missing, check.Unexpected, check.Mismatched);
        }

        using var source = new MappedWeightSource(weights, check.StoredNames, BackboneDtype, new Device(DeviceType.CPU), false);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in named_parameters())
        {
            using var loaded = source.Get(name, parameter.shape, parameter.dtype == ScalarType.Float32 && BackboneDtype != ScalarType.Float32 ? ParameterPrecision.Float32 : ParameterPrecision.Model);
            parameter.copy_(loaded);
        }
    }

    /// <summary>[B, 2] fp32 = (μ, log σ) per row; differentiable unless run under inference mode.</summary>
    public override Tensor forward(Hpsv3Batch batch) => Forward(batch, null);

    internal Tensor Forward(Hpsv3Batch batch, ForwardTrace? trace)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var device = Device;
        if (batch.InputIds.dim() != 2)
        {
            throw new ArgumentException($"input_ids must be [B, L]; got [{string.Join(", ", batch.InputIds.shape)}]", nameof(batch));
        }

        long b = batch.InputIds.shape[0], l = batch.InputIds.shape[1];
        if (!batch.AttentionMask.shape.SequenceEqual(batch.InputIds.shape) || batch.RewardIndex.shape.Length != 1 || batch.RewardIndex.shape[0] != b)
        {
            throw new ArgumentException($"attention_mask must be [{b}, {l}] and reward_index [{b}]; got [{string.Join(", ", batch.AttentionMask.shape)}] and [{string.Join(", ", batch.RewardIndex.shape)}]", nameof(batch));
        }

        // Causal attention: nothing after <|Reward|> can change the score, so the batch stops at the last reward token.
        var rewardCpu = batch.RewardIndex.to(ScalarType.Int64).cpu().data<long>().ToArray();
        long length = rewardCpu.Length == 0 ? 0 : rewardCpu.Max() + 1;
        if (rewardCpu.Any(r => r < 0 || r >= l))
        {
            throw new ArgumentException($"reward_index values must lie in [0, {l}); got [{string.Join(", ", rewardCpu)}]", nameof(batch));
        }

        // The checks read the ids on the host before they move, so a GPU forward has no device->host sync before its result.
        var idsHost = batch.InputIds.narrow(1, 0, length).to(ScalarType.Int64).cpu();       // [B, L] -> [B, L']
        var attention = batch.AttentionMask.narrow(1, 0, length).to(ScalarType.Int64).cpu();
        var idsArray = idsHost.contiguous().data<long>().ToArray();
        long imageTokens = 0;
        for (int i = 0; i < b; i++)
        {
            long atReward = idsArray[(i * length) + rewardCpu[i]];
            if (atReward != Hpsv3Layout.RewardTokenId)
            {
                throw new ArgumentException($"row {i}: token {atReward} at reward_index {rewardCpu[i]} is not <|Reward|> ({Hpsv3Layout.RewardTokenId})", nameof(batch));
            }
        }

        foreach (var id in idsArray)
        {
            imageTokens += id == Config.ImageTokenId ? 1 : 0;
        }

        var ids = ToDevice(idsHost, device);
        var rewardIndex = ToDevice(tensor(rewardCpu), device);
        var embeds = model.embed_tokens.forward(ids);                                         // [B, L'] -> [B, L', H]
        long patches = batch.PixelValues.numel() == 0 ? 0 : batch.PixelValues.shape[0];
        if (patches > 0 || imageTokens > 0)
        {
            var pixels = ToDevice(batch.PixelValues.to(ScalarType.Float32), device);
            var imageEmbeds = visual.Forward(pixels, batch.GridThw, trace);                   // [N, 1176] -> [N/4, H]
            if (imageEmbeds.shape[0] != imageTokens)
            {
                throw new ArgumentException($"the batch has {imageTokens} <|image_pad|> tokens before its reward tokens but its images give {imageEmbeds.shape[0]} merged patches", nameof(batch));
            }

            var mask = ids.eq(Config.ImageTokenId).unsqueeze(-1).expand_as(embeds);
            embeds = embeds.masked_scatter(mask, imageEmbeds.to(embeds.dtype));
        }

        trace?.Add("inputs_embeds", embeds);
        var additive = BuildMask(attention, rewardCpu, embeds.dtype, device);
        var hidden = model.Forward(embeds, rewardIndex, additive, trace);                     // [B, H]
        trace?.Add("hidden_at_reward", hidden);
        var output = rm_head.forward(hidden);                                                 // [B, H] -> [B, 2] fp32
        trace?.Add("head_out", output);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A host tensor on <paramref name="device"/>: itself on the CPU; on a GPU copied from pinned memory without
    /// blocking, so the copy overlaps the host's work of queueing the forward (libtorch's pinned allocator keeps the
    /// staging buffer alive until the copy has finished, even after the tensor is disposed).
    /// </summary>
    internal static Tensor ToDevice(Tensor host, Device device)
    {
        if (host.device.type == device.type && host.device.index == device.index)
        {
            return host;
        }

        if (device.type != DeviceType.CUDA || host.device.type != DeviceType.CPU)
        {
            return host.to(device);
        }

        using var pinned = host.pin_memory();
        return pinned.to(device, non_blocking: true);
    }

    /// <summary>
    /// null when every row is unmasked up to its reward token (right padding: causal attention alone is exact for
    /// the positions read); otherwise an additive [B, 1, L, L] causal + key-padding mask with a finite minimum (no NaN).
    /// </summary>
    private static Tensor? BuildMask(Tensor attentionCpu, long[] rewardIndex, ScalarType dtype, Device device)
    {
        var mask = attentionCpu.data<long>().ToArray();
        long l = attentionCpu.shape[1];
        bool rightPadded = true;
        for (int row = 0; row < rewardIndex.Length && rightPadded; row++)
        {
            for (long j = 0; j <= rewardIndex[row]; j++)
            {
                if (mask[row * l + j] == 0)
                {
                    rightPadded = false;
                    break;
                }
            }
        }

        if (rightPadded)
        {
            return null;
        }

        using var scope = NewDisposeScope();
        var keys = attentionCpu.to(device).ne(0).unsqueeze(1).unsqueeze(1);                  // [B, L] -> [B, 1, 1, L]
        var causal = ones(l, l, dtype: ScalarType.Bool, device: device).tril().unsqueeze(0).unsqueeze(0);
        var allowed = keys.logical_and(causal);                                               // [B, 1, L, L]
        double min = dtype == ScalarType.BFloat16 ? -3.3895313892515355e38 : float.MinValue;
        var additive = zeros(allowed.shape, dtype, device).masked_fill(allowed.logical_not(), min);
        return additive.MoveToOuterDisposeScope();
    }
}
