using HpsSharp.Modeling.Layers;
using HpsSharp.Modeling.Weights;
using TorchSharp;
using TorchSharp.Modules;
using Embedding = HpsSharp.Modeling.Layers.Embedding;
using static TorchSharp.torch;

namespace HpsSharp.Modeling.Language;

// Python counterpart: modeling_qwen2_vl.py `Qwen2VLModel` (4.45), called by HPSv3 with position_ids = None.

/// <summary>The Qwen2 decoder: <c>embed_tokens</c>, <c>layers</c>, final <c>norm</c>. No lm_head: HPSv3 reads a hidden state.</summary>
internal sealed class Qwen2Model : nn.Module<Tensor, Tensor>
{
    public readonly Embedding embed_tokens;
    public readonly ModuleList<Qwen2DecoderLayer> layers;
    public readonly RmsNorm norm;
    private readonly Qwen2VLConfig _config;
    private readonly ScalarType _dtype;

    public Qwen2Model(string name, Qwen2VLConfig config, WeightSource weights)
        : base(name)
    {
        _config = config;
        _dtype = weights.BackboneDtype;
        embed_tokens = new Embedding(name + ".embed_tokens", config.VocabSize, config.HiddenSize, weights);
        var list = new Qwen2DecoderLayer[config.NumHiddenLayers];
        for (int i = 0; i < list.Length; i++)
        {
            list[i] = new Qwen2DecoderLayer($"{name}.layers.{i}", config, weights);
        }

        layers = new ModuleList<Qwen2DecoderLayer>(list);
        norm = new RmsNorm(name + ".norm", config.HiddenSize, config.RmsNormEps, weights);
        RegisterComponents();
    }

    /// <summary>Recompute each layer in the backward pass instead of keeping its activations (training only).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Hidden states after the final norm for every position: inputs_embeds [B, L, H] → [B, L, H], causal.</summary>
    public override Tensor forward(Tensor inputsEmbeds) => Forward(inputsEmbeds, null, null, null);

    /// <summary>
    /// Runs the layers over inputs_embeds [B, L, H] with positions 0..L−1. With <paramref name="rewardIndex"/> [B]
    /// the result is the final-normed hidden state at those positions, [B, H]; otherwise every position, [B, L, H].
    /// <paramref name="mask"/> is an additive [B, 1, L, L] mask, or null for causal attention.
    /// </summary>
    public Tensor Forward(Tensor inputsEmbeds, Tensor? rewardIndex, Tensor? mask, ForwardTrace? trace)
    {
        using var scope = NewDisposeScope();
        long b = inputsEmbeds.shape[0], l = inputsEmbeds.shape[1];
        var (cos, sin, invFreq) = TextRotary.Build(l, _config.HeadDim, _config.RopeTheta, _dtype, inputsEmbeds.device);
        var context = new DecoderContext(cos, sin, mask);
        Tensor? rows = rewardIndex is null ? null : arange(b, dtype: ScalarType.Int64, device: inputsEmbeds.device);
        if (trace is not null)
        {
            trace.Add("text_rope_cos", cos);
            trace.Add("text_rope_sin", sin);
            trace.Add("text_inv_freq", invFreq);
        }

        var x = inputsEmbeds;
        var atReward = new List<Tensor>();
        if (trace is not null && rows is not null)
        {
            atReward.Add(x.index(rows, rewardIndex!));
        }

        bool checkpoint = GradientCheckpointing && training && is_grad_enabled();
        foreach (var layer in layers)
        {
            if (checkpoint)
            {
                var trainable = layer.parameters().Where(p => p.requires_grad).Cast<Tensor>().ToList();
                var current = layer;
                x = ActivationCheckpoint.Run((xi, e) => current.forward(xi, new DecoderContext(e[0]!, e[1]!, e[2])), x, [cos, sin, mask], trainable);
            }
            else
            {
                x = layer.forward(x, context);
            }

            if (trace is not null && rows is not null)
            {
                atReward.Add(x.index(rows, rewardIndex!));
            }
        }

        if (trace is not null)
        {
            if (atReward.Count > 0)
            {
                trace.Add("layer_hidden_at_reward", stack(atReward, 1));              // [B, layers+1, H]
            }

            trace.Add("final_hidden", norm.forward(x));
        }

        // RMSNorm is per position: normalise only the rows that are read.
        var result = rows is null ? norm.forward(x) : norm.forward(x.index(rows, rewardIndex!));
        return result.MoveToOuterDisposeScope();
    }
}
